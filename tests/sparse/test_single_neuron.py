"""The single hidden neuron of "Masks, Signs, and LRR": exact gradients, the d = 1 sign map, IMP vs LRR."""

import pytest
import torch

from relml.sparse.single_neuron import gd, imp_vs_lrr, neuron_data, quadrant_success


def test_gd_step_matches_autograd():
    g = torch.Generator().manual_seed(0)
    x, y = neuron_data(30, 4, noise=0.1, generator=g)
    a = torch.tensor([0.7, -0.3], dtype=torch.float64)
    w = torch.randn(2, 4, generator=g, dtype=torch.float64)
    a_r, w_r = a.clone().requires_grad_(), w.clone().requires_grad_()
    loss = 0.5 * ((a_r[:, None] * (w_r @ x.T).clamp(min=0) - y) ** 2).mean(1).sum()
    loss.backward()
    a1, w1, _ = gd(a, w, x, y, steps=1, lr=0.1)
    assert torch.allclose(a1, a - 0.1 * a_r.grad) and torch.allclose(w1, w - 0.1 * w_r.grad)


def test_masked_entries_stay_zero():
    g = torch.Generator().manual_seed(1)
    x, y = neuron_data(20, 3, generator=g)
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    ones = torch.ones(1, 3, dtype=torch.float64)
    _, w, _ = gd(ones[:, 0], ones, x, y, 50, 0.1, mask)
    assert w[0, 1] == 0


def test_one_input_learns_only_from_a_positive_weight():
    g = torch.Generator().manual_seed(2)
    x, y = neuron_data(100, 1, generator=g)
    a0 = torch.tensor([0.5, 0.5, -0.5, 0.8], dtype=torch.float64)
    w0 = torch.tensor([0.5, -0.5, -0.5, -0.1], dtype=torch.float64)
    assert quadrant_success(a0, w0, x, y, steps=2000, lr=0.5).tolist() == [True, False, False, False]


def test_lrr_inherits_the_flipped_sign_and_imp_does_not():
    g = torch.Generator().manual_seed(3)
    x, y = neuron_data(100, 6, generator=g)
    a0 = torch.full((16,), 0.6, dtype=torch.float64)
    w0 = torch.randn(16, 6, generator=g, dtype=torch.float64) / 6**0.5
    w0[:, 0] = -w0[:, 0].abs()
    res = imp_vs_lrr(a0, w0, x, y, steps=1500, lr=0.5)
    flipped = res["dense_w1"] > 0  # dense training turned w₁ positive through the other inputs
    assert bool(res["mask_correct"].all()) and flipped.double().mean() >= 0.75
    assert not res["imp_success"].any() and torch.equal(res["lrr_success"], flipped)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="noise"):
        neuron_data(10, 2, noise=-1)
    x, y = neuron_data(10, 2)
    with pytest.raises(ValueError, match="pass a"):
        gd(torch.ones(2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64), x, y, 1, 0.1)
    with pytest.raises(ValueError, match="d = 1"):
        quadrant_success(torch.ones(1), torch.ones(1), x, y, 1, 0.1)
