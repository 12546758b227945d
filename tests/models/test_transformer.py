"""The tiny transformer: shapes, independent members, which weights are prunable, input checks."""

import pytest
import torch

from relml.models.transformer import TinyTransformer


def test_shapes_and_prunable_weights():
    model = TinyTransformer(members=3, dim=8, heads=2, layers=2, generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, 64)
    out = model(x)
    assert out.shape == (3, 5, 10)
    torch.testing.assert_close(model(x.reshape(5, 8, 8)), out)
    # embed, (qkv, proj, fc1, fc2) per layer, head: all (R, in, out)
    assert [tuple(w.shape) for w in model.prunable_weights()][:3] == [(3, 8, 8), (3, 8, 24), (3, 8, 8)]
    assert len(model.prunable_weights()) == 1 + 4 * 2 + 1
    assert model.accuracy(x, torch.zeros(5, dtype=torch.long)).shape == (3,)


def test_members_are_independent():
    model = TinyTransformer(members=2, dim=8, heads=2, layers=1)
    x, y = torch.rand(6, 64), torch.randint(0, 10, (6,))
    out = model(x)
    torch.nn.functional.cross_entropy(out[0], y).backward()  # member 0's loss only
    for p in model.parameters():
        assert p.grad is not None and float(p.grad[1].abs().max()) == 0.0
    # the ensemble loss gives each member exactly the gradient of its own mean loss
    model.zero_grad()
    TinyTransformer.loss(model(x), y).backward()
    g_joint = model.head.weight.grad[0].clone()
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x)[0], y).backward()
    torch.testing.assert_close(model.head.weight.grad[0], g_joint)


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        TinyTransformer(dim=10, heads=4)
    with pytest.raises(ValueError, match="members"):
        TinyTransformer(members=0)
    with pytest.raises(ValueError, match="shape"):
        TinyTransformer(dim=8, heads=2)(torch.rand(4, 60))
