"""HAM around torch optimizers: a hand-computed step, masks, per-group settings, state_dict round trip."""

import copy
import math

import pytest
import torch
from torch import nn

from relml.optim import HAM
from relml.sparse import MaskCallback


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


def _loss(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
    return nn.functional.cross_entropy(model(x), y)


def test_one_sgd_step_by_hand():
    w = nn.Parameter(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    b = nn.Parameter(torch.tensor([0.3, -0.3]))
    w.grad = torch.tensor([[0.2, 0.1], [-1.0, 3.0]])
    b.grad = torch.tensor([1.0, 1.0])
    opt = HAM(torch.optim.SGD([w, b], lr=0.1), alpha=10.0, beta=0.5)
    opt.step()
    half = torch.tensor([[1.0 - 0.02, -2.0 - 0.01], [0.5 + 0.1, 0.0 - 0.3]])  # the SGD half step
    # x_half ⊙ exp(−lr (α sign(x_half) g + β)) with the gradient of the first point
    expo = torch.tensor([[-(0.1) * (10 * 0.2 + 0.5), -(0.1) * (-10 * 0.1 + 0.5)],
                         [-(0.1) * (10 * -1.0 + 0.5), -(0.1) * (-10 * 3.0 + 0.5)]])
    torch.testing.assert_close(w.detach(), half * expo.exp())
    torch.testing.assert_close(b.detach(), torch.tensor([0.2, -0.4]))  # bias: the SGD step only
    assert math.isclose(float(expo[1, 1]), 2.95, rel_tol=1e-6)


def test_zero_alpha_and_beta_is_the_base_optimizer():
    a, b = _model(), _model()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    opt_b = HAM(torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9), alpha=0.0, beta=0.0)
    for _ in range(3):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            _loss(model).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_masked_weights_stay_exactly_zero():
    model = _model()
    masks = [(torch.rand(p.shape) < 0.5).float() for p in (model[0].weight, model[2].weight)]
    cb = MaskCallback([model[0].weight, model[2].weight], masks)
    opt = HAM(torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-2), alpha=50.0)
    for step in range(5):
        opt.zero_grad()
        _loss(model, seed=step).backward()
        opt.step()  # no re-masking: masked gradients keep the base step off the zeros, HAM multiplies
    for w, m in zip(cb.weights, cb.masks, strict=True):
        assert bool((w[m == 0] == 0).all())
        assert bool((w[m == 1] != 0).all())


def test_per_group_settings_and_state_dict_round_trip():
    model = _model()
    groups = [{"params": [model[0].weight], "ham_alpha": 100.0},
              {"params": [model[0].bias, model[2].weight, model[2].bias], "ham_alpha": 0.0, "ham_beta": 0.0}]
    opt = HAM(torch.optim.SGD(groups, lr=0.05, momentum=0.9), alpha=20.0)
    assert [g["ham_alpha"] for g in opt.param_groups] == [100.0, 0.0]
    for step in range(3):
        opt.zero_grad()
        _loss(model, seed=step).backward()
        opt.step()
    clone = copy.deepcopy(model)
    groups2 = [{"params": [clone[0].weight]}, {"params": [clone[0].bias, clone[2].weight, clone[2].bias]}]
    opt2 = HAM(torch.optim.SGD(groups2, lr=1.0), alpha=1.0)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as if saved: torch's load aliases tensors
    assert [g["ham_alpha"] for g in opt2.param_groups] == [100.0, 0.0]
    assert opt2.param_groups[0]["momentum"] == 0.9
    for step in range(3, 6):
        for m, o in ((model, opt), (clone, opt2)):
            o.zero_grad()
            _loss(m, seed=step).backward()
            o.step()
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)


def test_wraps_adam_and_rejects_bad_input():
    model = _model()
    opt = HAM(torch.optim.Adam(model.parameters(), lr=1e-2), alpha=50.0)
    opt.zero_grad()
    _loss(model).backward()
    opt.step()
    assert "HAM" in repr(opt)
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        HAM(model.parameters())
    with pytest.raises(ValueError, match="SGD base"):
        HAM(torch.optim.Adam(model.parameters()), fused=True)
    with pytest.raises(ValueError, match="alpha"):
        HAM(torch.optim.SGD(model.parameters(), lr=0.1), alpha=-1.0)


def test_fused_ham_equals_unfused(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    a, b = _model(), _model()
    opt_a = HAM(torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3), alpha=30.0)
    opt_b = HAM(torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3), alpha=30.0,
                fused=True)
    for step in range(3):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            _loss(model, seed=step).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert set(opt_b.state_dict()["state"][0]) == {"momentum_buffer"}
