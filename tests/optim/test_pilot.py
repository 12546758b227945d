"""PILoT (Jacobs & Burkholz, ICLR 2025): the optimizer step against hand-computed values, the exact
per-step factor of m² − w², Algorithm 1's α update, masks, the foreach path and state_dict round-trips."""

import copy
import io
import math

import pytest
import torch
from torch import nn

from relml.models import MLP, EnsembleMLP
from relml.optim.pilot import (
    OneShotRecipe,
    PILoT,
    RegressionArm,
    collapse,
    compare_one_shot,
    imbalance,
    mask_weight_pairs,
    pilot_param_groups,
    pilot_step,
    product_l1,
    regression_accuracy,
    reparameterize,
    run_regression_arms,
)
from relml.optim.testbench import regression_problems
from relml.sparse.oneshot import FineTune, one_shot_prune, one_shot_sweep


def test_step_matches_hand_computation():
    # p' = p − lr (g + 2α p): α = 0.05, lr = 0.1
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = PILoT([p], lr=0.1, alpha=0.05)
    p.grad = torch.tensor([0.5, 0.25])
    opt.step()
    expected = torch.tensor([1.0 - 0.1 * (0.5 + 0.1 * 1.0), -2.0 - 0.1 * (0.25 - 0.1 * 2.0)])
    assert torch.allclose(p.detach(), expected)


def test_momentum_and_decoupled_steps_match_hand_computation():
    p = nn.Parameter(torch.tensor([1.0]))
    opt = PILoT([p], lr=0.1, alpha=0.5, momentum=0.9)  # c = 2α = 1
    p.grad = torch.tensor([2.0])
    opt.step()  # buf = 2 + 1 = 3, p = 1 − 0.3 = 0.7
    p.grad = torch.tensor([1.0])
    opt.step()  # buf = 0.9·3 + (1 + 0.7) = 4.4, p = 0.7 − 0.44 = 0.26
    assert p.item() == pytest.approx(0.26)
    q = nn.Parameter(torch.tensor([1.0]))
    dec = PILoT([q], lr=0.1, alpha=0.5, decoupled=True)
    q.grad = torch.tensor([2.0])
    dec.step()  # q = 1·(1 − 0.1) − 0.2 = 0.7
    assert q.item() == pytest.approx(0.7)


def test_imbalance_factor_is_exact_per_step():
    # one SGD step on (m, w) with g = ∂f/∂θ: m² − w² ← ((1 − 2ηα)² − η² g²)(m² − w²), elementwise
    torch.manual_seed(0)
    m, w = (nn.Parameter(torch.randn(50, dtype=torch.float64)) for _ in range(2))
    gap0 = (m * m - w * w).detach()
    lr, alpha = 0.05, 0.3
    c = torch.randn(50, dtype=torch.float64)  # f(θ) = <c, θ>, so g = c
    opt = PILoT([{"params": [m, w], "pairs": True}], lr=lr, alpha=alpha)
    (c * m * w).sum().backward()
    opt.step()
    expected = ((1 - 2 * lr * alpha) ** 2 - lr**2 * c**2) * gap0
    assert torch.allclose(m * m - w * w, expected, rtol=1e-12, atol=1e-12)


def test_imbalance_conserved_without_regularisation_and_decays_with_it():
    prob = regression_problems(8, 20, 2, seeds=[0, 1])
    theta0 = 0.1 * torch.randn(2, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    arms = [RegressionArm("free"), RegressionArm("const", alpha=1.0)]
    res = run_regression_arms(prob, arms, theta0, lr=0.01, epochs=4, steps_per_epoch=25)
    free = res.imbalance["free"]
    assert abs(free[-1] / free[0] - 1).max() < 1e-2  # only the O(η²g²) discretisation term
    const = res.imbalance["const"]  # (1 − 2ηα)^200 = 0.98^200 ≈ 0.018
    assert (const[-1] < 0.05 * const[0]).all()
    assert abs(const / res.predicted["const"] - 1).max() < 2e-2
    assert res.thetas["const"].shape == (5, 2, 20) and res.alpha["const"].shape == (5, 2)


def test_foreach_matches_single_tensor_path():
    torch.manual_seed(1)
    shapes = [(3, 4), (4, 5), (5,)]
    for alpha in (0.03, torch.tensor([0.01, 0.02, 0.05])):
        runs = []
        for foreach in (False, True):
            gen = torch.Generator().manual_seed(2)
            params = [torch.randn(s, generator=gen) if not isinstance(alpha, torch.Tensor)
                      else torch.randn((3, *s[1:]) if len(s) > 1 else (3,), generator=gen) for s in shapes]
            bufs: list = [None] * len(params)
            masks = [None, (torch.rand(params[1].shape, generator=gen) > 0.5).float(), None]
            for _ in range(3):
                grads = [torch.randn(p.shape, generator=gen) for p in params]
                pilot_step(params, grads, bufs, masks, lr=0.1, alpha=alpha, weight_decay=0.01, momentum=0.9,
                           dampening=0.0, nesterov=True, decoupled=False, foreach=foreach)
            runs.append(params)
        for a, b in zip(*runs, strict=True):
            assert torch.allclose(a, b, atol=1e-6)


def test_masked_entries_stay_exactly_zero():
    p = nn.Parameter(torch.randn(6, 6))
    opt = PILoT([p], lr=0.1, alpha=0.01, momentum=0.9, weight_decay=1e-3)
    for _ in range(2):
        p.grad = torch.randn(6, 6)
        opt.step()
    mask = (torch.rand(6, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    opt.set_masks({p: mask})
    for _ in range(5):
        p.grad = torch.randn(6, 6)
        opt.step()
    assert (p[mask == 0] == 0).all() and (p[mask == 1] != 0).all()


def _score_sequence(opt, scores, l1s):
    return [opt.update_alpha(s, l1)[0] for s, l1 in zip(scores, l1s, strict=True)]


def test_update_alpha_follows_algorithm_1():
    p, q = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = PILoT([{"params": [p, q], "pairs": True}], lr=0.1, alpha=1.0, delta=2.0, threshold=1.0, epochs=8)
    # k = 1..8: grow while score >= previous, L1 >= K and k <= T/2 = 4; shrink otherwise
    alphas = _score_sequence(opt, [0.5, 0.5, 0.4, 0.6, 0.9, 0.9, 0.9, 0.9], [5, 5, 5, 0.5, 5, 5, 5, 5])
    assert alphas == [2.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625]
    assert opt.product_l1() == pytest.approx(2.0)  # ‖p ⊙ q‖_1 of the pair
    assert opt.param_groups[0]["pilot_epoch"] == 8


def test_update_alpha_per_problem_and_constant_rows():
    m, w = nn.Parameter(torch.ones(3, 4)), nn.Parameter(torch.ones(3, 4))
    opt = PILoT([{"params": [m, w], "pairs": True}], lr=0.1, alpha=torch.ones(3),
                delta=torch.tensor([2.0, 2.0, 1.0]), threshold=1.0)
    opt.update_alpha(torch.tensor([0.5, 0.5, 0.5]))
    new = opt.update_alpha(torch.tensor([0.6, 0.4, 0.9]))[0]
    assert torch.equal(new, torch.tensor([4.0, 1.0, 1.0]))  # grow, shrink, constant (δ = 1)
    with pytest.raises(ValueError, match="one per"):
        opt.update_alpha(torch.ones(2))


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(3)
    model = MLP([5, 7, 3])
    reparameterize(model, beta=1.0)
    opt = PILoT(pilot_param_groups(model, alpha=0.02, delta=1.5, epochs=10), lr=0.05, momentum=0.9)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))

    def train(net, optimizer, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
        optimizer.update_alpha(0.5)

    train(model, opt, 3)
    opt.set_masks({mask_weight_pairs(model)[0][0]: (torch.rand(7, 5) > 0.3).float()})
    clone = copy.deepcopy(model)
    saved = io.BytesIO()
    torch.save(opt.state_dict(), saved)  # a saved copy: state_dict() itself holds live references
    saved.seek(0)
    opt2 = PILoT(pilot_param_groups(clone), lr=1.0)
    opt2.load_state_dict(torch.load(saved, weights_only=True))
    assert opt2.param_groups[0]["alpha"] == opt.param_groups[0]["alpha"]
    assert opt2.param_groups[0]["pilot_epoch"] == 1
    train(model, opt, 3)
    train(clone, opt2, 3)
    for a, b in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt2.param_groups[0]["alpha"] == opt.param_groups[0]["alpha"]


def test_reparameterize_keeps_function_and_imbalance():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2))
    idx = torch.randint(0, 10, (8,))
    before = model(idx)
    pairs = reparameterize(model, beta=0.7)
    assert len(pairs) == 2  # the two linear kernels; embedding, norm and biases stay
    assert torch.allclose(model(idx), before, atol=1e-6)
    assert torch.allclose(imbalance(model), torch.full((4 * 6 + 6 * 2,), 0.7), atol=1e-6)
    with torch.no_grad():
        l1 = float(model[1].weight.abs().sum() + model[3].weight.abs().sum())
    assert product_l1(model) == pytest.approx(l1)
    groups = pilot_param_groups(model)
    assert groups[0]["pairs"] and groups[0]["params"][:2] == list(pairs[0])
    collapse(model)
    assert not mask_weight_pairs(model)
    assert isinstance(model[1].weight, nn.Parameter) and model[1].weight.requires_grad
    assert torch.allclose(model(idx), before, atol=1e-6)


def test_ensemble_biases_are_not_reparameterised():
    ens = EnsembleMLP([4, 5, 3], 2)
    pairs = reparameterize(ens)
    assert [tuple(m.shape) for m, _ in pairs] == [(2, 4, 5), (2, 5, 3)]


def test_bad_input_raises():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="delta"):
        PILoT([p], lr=0.1, delta=0.5)
    with pytest.raises(ValueError, match="learning rate"):
        PILoT([p], lr=-1.0)
    with pytest.raises(ValueError, match="pairs"):
        PILoT([{"params": [p], "pairs": True}], lr=0.1)
    with pytest.raises(ValueError, match="problems"):
        PILoT([p], lr=0.1, alpha=torch.ones(3))
    with pytest.raises(ValueError, match="beta"):
        reparameterize(nn.Linear(2, 2), beta=-1.0)
    with pytest.raises(ValueError, match="pairs=True"):
        PILoT([p], lr=0.1).update_alpha(1.0)
    with pytest.raises(ValueError, match="finite"):
        PILoT([{"params": [p, nn.Parameter(torch.ones(2))], "pairs": True}], lr=0.1).update_alpha(math.nan)
    prob = regression_problems(5, 10, 1, seeds=[0])
    with pytest.raises(ValueError, match="tolerance"):
        regression_accuracy(prob.min_l2, prob, tol=0.0)


def test_one_shot_prune_exact_sparsity_and_finetune_keeps_zeros():
    torch.manual_seed(5)
    ens = EnsembleMLP([6, 8, 3], 2)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    trained = copy.deepcopy(ens.state_dict())
    mask = one_shot_prune(ens, 0.75, stacked=True)
    kept = sum(m.reshape(2, -1).sum(1) for m in mask.masks)
    assert torch.equal(kept, torch.full((2,), round(0.25 * (6 * 8 + 8 * 3)), dtype=kept.dtype))
    mask.remove()
    ens.load_state_dict(trained)
    df = one_shot_sweep(ens, (x, y), [0.5, 0.9], lambda m: m.accuracy(x, y), FineTune(2, 0.05, batch_size=16),
                        stacked=True, loss_fn=ens.loss)
    assert set(df.sparsity) == {0.5, 0.9} and len(df) == 2 * 2 * 2
    assert ens.weights[0].abs().min() > 0  # restored to the trained (dense) weights


def test_compare_one_shot_single_network():
    gen = torch.Generator().manual_seed(6)
    x, y = torch.randn(64, 6, generator=gen), torch.randint(0, 3, (64,), generator=gen)

    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))

    recipe = OneShotRecipe(epochs=2, lr=0.05, pilot_lr=0.05, alpha=1e-3, delta=1.1, batch_size=16,
                           finetune_epochs=1, finetune_lr=0.05, sparsities=(0.5, 0.8))
    table, hist = compare_one_shot(make, (x, y), (x, y), (x, y), recipe)
    assert len(table) == 2 * 2 * 2 and set(table.arm) == {"magnitude", "PILoT"}
    assert len(hist["PILoT"]["alpha"]) == 2 and table.acc.between(0, 1).all()
