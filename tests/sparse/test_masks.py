import math

import numpy as np
import pytest
import torch
from torch import nn

from relml.data import gaussian_mixture
from relml.sparse import (
    MaskCallback,
    allocated_density,
    balanced_densities,
    density_table,
    erk_densities,
    layer_densities,
    mask_density,
    maskable_weights,
    pyramidal_densities,
    pyramidal_root,
    random_masks,
    uniform_densities,
)
from relml.train import fit

MLP_SHAPES = [(256, 64), (256, 256), (10, 256)]
CONV_SHAPES = [(16, 3, 3, 3), (32, 16, 3, 3), (64, 32, 3, 3), (64, 64, 3, 3), (10, 64)]
SHAPE_SETS = [MLP_SHAPES, CONV_SHAPES, [(512, 64), (512, 512), (512, 512), (10, 512)]]
DENSITIES = [1.0, 0.5, 0.2, 0.05, 0.01]


def numels(shapes):
    return np.array([math.prod(s) for s in shapes], dtype=float)


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("p", DENSITIES)
@pytest.mark.parametrize("alloc", [uniform_densities, erk_densities, pyramidal_densities])
def test_exact_allocators_hit_the_global_density(alloc, p, shapes):
    d = alloc(shapes, p)
    assert len(d) == len(shapes) and all(0 < x <= 1 for x in d)
    assert allocated_density(shapes, d) == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("p", DENSITIES)
def test_erk_resolve_keeps_the_kernel_ratio_and_clipping_undershoots(shapes, p):
    raw = np.array([sum(s) for s in shapes]) / numels(shapes)
    d = np.array(erk_densities(shapes, p))
    free = d < 1
    # unsaturated layers share one ε; saturated layers are exactly dense
    if free.sum() > 1:
        assert np.ptp(d[free] / raw[free]) < 1e-9 * (d[free] / raw[free]).max()
    clipped = np.array(erk_densities(shapes, p, resolve=False))
    realised = allocated_density(shapes, clipped)
    eps = p * numels(shapes).sum() / (raw * numels(shapes)).sum()
    assert np.allclose(clipped, np.minimum(1, eps * raw))
    assert realised <= p + 1e-12
    assert (realised == pytest.approx(p)) == bool((eps * raw <= 1).all())


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("p", DENSITIES)
def test_balanced_gives_each_layer_the_same_budget_and_reports_its_undershoot(shapes, p):
    n = numels(shapes)
    d = np.array(balanced_densities(shapes, p))
    x = p * n.sum() / len(n)
    assert np.allclose(d * n, np.minimum(n, x))
    realised = allocated_density(shapes, d)
    assert realised == pytest.approx(np.minimum(n, x).sum() / n.sum())
    assert realised <= p + 1e-12 and (realised == pytest.approx(p)) == bool((n >= x).all())


def test_saturation_in_the_quick_mlp():
    # ERK makes the 10-unit output layer dense at density 0.5; balanced then loses budget
    d = erk_densities(MLP_SHAPES, 0.5)
    assert d[2] == 1.0 and allocated_density(MLP_SHAPES, d) == pytest.approx(0.5)
    assert allocated_density(MLP_SHAPES, balanced_densities(MLP_SHAPES, 0.5)) < 0.4


@pytest.mark.parametrize("shapes", SHAPE_SETS)
@pytest.mark.parametrize("p", [0.5, 0.1, 0.01])
def test_pyramidal_root_matches_the_papers_polynomial_roots(shapes, p):
    n = numels(shapes)
    roots = np.roots(np.concatenate([n[::-1], [-p * n.sum()]]))
    real = [r.real for r in roots if abs(r.imag) < 1e-12 and 0 < r.real < 1]
    assert len(real) == 1 and pyramidal_root(shapes, p) == pytest.approx(real[0], rel=1e-9)
    d = pyramidal_densities(shapes, p)
    assert np.allclose(d, real[0] ** np.arange(1, len(n) + 1)) and all(np.diff(d) < 0)


def test_layer_densities_dispatch_and_table():
    assert layer_densities("dense", MLP_SHAPES, 0.3) == [1.0, 1.0, 1.0]
    assert layer_densities("erk", MLP_SHAPES, 0.1) == erk_densities(MLP_SHAPES, 0.1)
    tab = density_table(MLP_SHAPES, [("uniform", 0.2), ("balanced", 0.1)])
    assert tab.shape == (2, 3) and np.allclose(tab[1], balanced_densities(MLP_SHAPES, 0.1))


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5", None])
def test_bad_densities_raise_saying_what_to_pass(bad):
    for alloc in (uniform_densities, erk_densities, balanced_densities, pyramidal_densities):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            alloc(MLP_SHAPES, bad)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        random_masks(MLP_SHAPES, [0.5, bad, 0.5])


@pytest.mark.parametrize("shapes", [[], (256, 64), [(256,)], [(0, 3)], [("a", 2)], None])
def test_bad_shapes_raise(shapes):
    with pytest.raises(ValueError, match="shape"):
        uniform_densities(shapes, 0.5)


def test_bad_method_and_length_mismatches_raise():
    with pytest.raises(ValueError, match="one of"):
        layer_densities("random", MLP_SHAPES, 0.5)
    with pytest.raises(ValueError, match="one per layer"):
        random_masks(MLP_SHAPES, [0.5, 0.5])
    with pytest.raises(ValueError, match="one density per layer"):
        allocated_density(MLP_SHAPES, [0.5])


@pytest.mark.parametrize("p", [0.5, 0.2, 0.03])
def test_masks_have_the_asked_per_layer_density(p):
    gen = torch.Generator().manual_seed(0)
    dens = erk_densities(CONV_SHAPES, p)
    masks = random_masks(CONV_SHAPES, dens, gen)
    for m, s, d in zip(masks, CONV_SHAPES, dens, strict=True):
        n = math.prod(s)
        assert m.shape == s and set(m.unique().tolist()) <= {0.0, 1.0}
        assert m.sum() == max(1, round(d * n))
    kept = sum(max(1, round(d * math.prod(s))) for s, d in zip(CONV_SHAPES, dens, strict=True))
    assert mask_density(masks) == pytest.approx(kept / numels(CONV_SHAPES).sum())


def test_stacked_masks_draw_one_exact_mask_per_member_and_are_uniform():
    gen = torch.Generator().manual_seed(1)
    dens = np.array([0.5, 0.25, 0.1, 1.0])
    (m,) = random_masks([(4, 8, 5)], [dens], gen)
    assert torch.equal(m.sum((1, 2)), torch.tensor([20.0, 10.0, 4.0, 40.0]))
    # every position is kept with probability k/n: average many independent masks
    (many,) = random_masks([(4000, 6, 5)], [np.full(4000, 0.2)], gen)
    assert torch.allclose(many.mean(0), torch.full((6, 5), 0.2), atol=0.03)


def test_masks_are_reproducible_and_differ_across_seeds():
    a = random_masks(MLP_SHAPES, [0.1] * 3, torch.Generator().manual_seed(3))
    b = random_masks(MLP_SHAPES, [0.1] * 3, torch.Generator().manual_seed(3))
    c = random_masks(MLP_SHAPES, [0.1] * 3, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1], c[1])


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 3))


def test_maskable_weights_skip_biases():
    model = net()
    assert [tuple(w.shape) for w in maskable_weights(model)] == [(32, 5), (3, 32)]
    masks = random_masks(model, [0.3, 0.5], torch.Generator().manual_seed(0))
    assert [tuple(m.shape) for m in masks] == [(32, 5), (3, 32)]


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
])
def test_masks_stay_applied_through_training(make_opt):
    model = net()
    masks = random_masks(model, [0.3, 0.5], torch.Generator().manual_seed(0))
    cb = MaskCallback(model, masks)
    opt = make_opt(model.parameters())
    data = gaussian_mixture(200, 5, 3, seed=0)
    before = [w.detach().clone() for w in cb.weights]
    fit(model, data, opt, epochs=3, batch_size=32, callbacks=[cb], progress=False)
    for w, m, w0 in zip(cb.weights, masks, before, strict=True):
        assert torch.all(w[m == 0] == 0) and not torch.equal(w[m == 1], w0[m == 1])
        assert torch.all(w.grad[m == 0] == 0)  # gradients are masked
        state = opt.state[w]
        buf = state.get("exp_avg", state.get("momentum_buffer"))
        assert torch.all(buf[m == 0] == 0)  # so no optimizer state builds up on pruned weights
    assert cb.density() == pytest.approx(mask_density(masks))
    cb.remove()
    assert not cb._hooks


def test_callback_rejects_mismatched_masks_and_restores_state():
    model = net()
    with pytest.raises(ValueError, match="one mask per weight"):
        MaskCallback(model, [torch.ones(32, 5)])
    with pytest.raises(ValueError, match="shape"):
        MaskCallback(model, [torch.ones(5, 32), torch.ones(3, 32)])
    cb = MaskCallback(model, random_masks(model, [0.5, 0.5], torch.Generator().manual_seed(0)))
    state = cb.state_dict()
    cb.masks[0].fill_(1.0)
    cb.load_state_dict(state)
    assert torch.equal(cb.masks[0], state["masks"][0])
