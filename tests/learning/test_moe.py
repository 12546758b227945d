import numpy as np
import pytest
import torch

from relml.learning import moe as M
from relml.presets.moe_noise import PARAMS


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is fastest, and it does not fight parallel test workers."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_generator_noise_has_the_asked_variance_and_the_signal_lives_in_one_block():
    task = M.modular_task(4, 3, seed=1)
    data = task.sample(20_000, 0.7, seed=2)
    noise = data.x - data.clean
    assert noise.mean().abs() < 0.01 and noise.var().item() == pytest.approx(0.49, rel=0.02)
    blocks = data.clean.reshape(-1, 4, 3)
    active = blocks.abs().sum(-1) > 0
    assert torch.equal(active.sum(1), torch.ones(20_000, dtype=torch.long))   # exactly one module each
    assert torch.equal(active.float().argmax(1), data.module)
    assert torch.allclose(data.y, data.clean @ task.weight().T)
    eye = torch.eye(3).expand(4, 3, 3)                                        # orthogonal blocks: E|y|² = m
    assert torch.allclose(task.blocks @ task.blocks.transpose(1, 2), eye, atol=1e-5)
    assert torch.equal(task.sample(5, 0.0, seed=3).x, task.sample(5, 0.0, seed=3).clean)


def test_closed_form_errors_match_least_squares_fits():
    """The population-optimal linear maps: dense Kσ²/(1+Kσ²), per-module (oracle MoE) σ²/(1+σ²)."""
    K, m, sigma = 4, 2, 0.6
    task = M.modular_task(K, m, seed=0)
    train, test = task.sample(40_000, sigma, seed=1), task.sample(40_000, sigma, seed=2)
    w = torch.linalg.lstsq(train.x, train.y).solution
    dense = float(((test.x @ w - test.y) ** 2).sum() / (test.y**2).sum())
    assert dense == pytest.approx(M.population_error(K, sigma, "dense"), abs=0.01)
    assert M.population_error(K, sigma, "dense") == pytest.approx(K * sigma**2 / (1 + K * sigma**2))
    pred = torch.zeros_like(test.y)
    for c in range(K):   # per-module least squares: the oracle MoE's experts
        wc = torch.linalg.lstsq(train.x[train.module == c], train.y[train.module == c]).solution
        pred[test.module == c] = test.x[test.module == c] @ wc
    moe = float(((pred - test.y) ** 2).sum() / (test.y**2).sum())
    assert moe == pytest.approx(M.population_error(K, sigma, "moe"), abs=0.01)
    # perturbed at test time: the dense map's error grows K times faster at σ = 0
    clean_trained = M.population_error(K, 0.0, "moe", 0.3)
    assert M.population_error(K, 0.0, "dense", 0.3) == pytest.approx(K * clean_trained)


def test_parameter_counts_match_exactly():
    d, E, h = 16, 4, 3
    for router in M.ROUTERS:
        moe = M.MixtureOfExperts(d, d, E, h, router=router, replicas=3)
        assert M.count_parameters(moe) == M.moe_parameter_count(d, d, E, h, router)
        dense = M.iso_dense(moe)
        assert M.count_parameters(dense) == M.count_parameters(moe) and dense.replicas == 3
    assert M.iso_dense_width(d, d, M.moe_parameter_count(d, d, E, h, "learned")) == E * h + E // 2
    assert M.active_parameter_count(M.build_arm("moe_oracle", d, E, h)) == h * 2 * d
    for scale in ("quick", "paper"):   # the notebook's presets admit an exact dense width
        K, m, hid = (getattr(PARAMS[k], scale) for k in ("MODULES", "BLOCK_SIZE", "HIDDEN"))
        for dense, moe in (("dense", "moe_oracle"), ("dense_learned", "moe_learned")):
            counts = [M.count_parameters(M.build_arm(a, K * m, K, hid)) for a in (dense, moe)]
            assert counts[0] == counts[1]
    with pytest.raises(ValueError, match="no dense width"):
        M.iso_dense(M.MixtureOfExperts(d, d, 3, h, router="learned"))   # 3·16 is not a multiple of 32


def test_oracle_moe_with_the_teacher_weights_is_exact_and_training_reaches_it():
    K, m = 4, 2
    task = M.modular_task(K, m, seed=0)
    data = task.sample(400, 0.0, seed=1)
    moe = M.MixtureOfExperts(K * m, K * m, K, m, router="oracle")
    with torch.no_grad():   # expert c reads block c and applies A_c
        moe.w1.zero_()
        moe.w2.zero_()
        for c in range(K):
            moe.w1[0, c, :, c * m:(c + 1) * m] = torch.eye(m)
            moe.w2[0, c, c * m:(c + 1) * m] = task.blocks[c]
    assert torch.allclose(moe(data.x, route=data.module), data.y, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    trained = M.MixtureOfExperts(K * m, K * m, K, m, router="oracle", generator=g)
    curve = M.train(trained, data, steps=120, lr=0.05)
    assert curve.shape == (120, 1) and curve[-1, 0] < 1e-3 * curve[0, 0]
    assert M.relative_error(trained, task.sample(400, 0.0, seed=2))[0] < 1e-3


@pytest.mark.parametrize("router", M.ROUTERS)
def test_routing_sends_each_sample_to_one_expert(router):
    g = torch.Generator().manual_seed(0)
    moe = M.MixtureOfExperts(6, 5, 4, 3, router=router, activation="relu", replicas=2, generator=g)
    x, module = torch.randn(50, 2, 6, generator=g), torch.randint(0, 4, (50, 2), generator=g)
    moe.eval()
    out = moe(x, route=module if router == "oracle" else None)
    chosen = moe.last_route
    assert chosen.shape == (50, 2, 1)
    picked = moe.expert_outputs(x).gather(2, chosen.unsqueeze(-1).expand(-1, -1, -1, 5))[:, :, 0]
    assert torch.allclose(out, picked, atol=1e-6)
    moe.dispatch = "masked"
    assert torch.allclose(moe(x, route=module if router == "oracle" else None), out, atol=1e-6)
    if router == "oracle":
        assert torch.equal(chosen[..., 0], module)
        assert torch.allclose(moe(M.with_module(x, module)), out)
        data = M.ModularBatch(x, out, module, x)
        assert np.all(M.routing_accuracy(moe, data) == 1.0)


def test_top_k_gates_sum_to_one_and_sparse_equals_masked():
    g = torch.Generator().manual_seed(1)
    moe = M.MixtureOfExperts(6, 4, 5, 3, top_k=2, generator=g).eval()
    x = torch.randn(40, 6, generator=g)
    chosen, gates, probs = moe.route(x.unsqueeze(1))
    assert chosen.shape == (40, 1, 2) and torch.allclose(gates.sum(-1), torch.ones(40, 1))
    assert torch.allclose(probs.sum(-1), torch.ones(40, 1))
    out = moe(x)
    moe.dispatch = "masked"
    assert torch.allclose(moe(x), out, atol=1e-6)


def test_load_balancing_loss_is_one_when_uniform_and_e_when_collapsed():
    E, n = 4, 8
    uniform = torch.full((n, E), 1 / E)
    spread = torch.arange(n).remainder(E).unsqueeze(1)
    assert M.load_balancing_loss(uniform, spread).item() == pytest.approx(1.0)
    collapsed = torch.zeros(n, E)
    collapsed[:, 0] = 1
    assert M.load_balancing_loss(collapsed, torch.zeros(n, 1, dtype=torch.long)).item() == pytest.approx(E)


def test_competitive_loss_equals_its_definition():
    g = torch.Generator().manual_seed(2)
    moe = M.MixtureOfExperts(6, 4, 3, 5, activation="relu", replicas=2, generator=g).train()
    x, y = torch.randn(30, 2, 6, generator=g), torch.randn(30, 2, 4, generator=g)
    moe(x)
    probs = moe.route(x)[2]
    direct = (probs * ((moe.expert_outputs(x) - y.unsqueeze(2)) ** 2).mean(-1)).sum(-1).mean()
    assert moe.competitive_loss(y).item() == pytest.approx(direct.item(), rel=1e-5)


def test_stacked_replicas_train_like_separate_models():
    task = M.modular_task(2, 2, seed=0)
    batches = [task.sample(64, s, seed=i) for i, s in enumerate((0.1, 0.5))]
    both = M.build_arm("moe_learned", 4, 2, 2, replicas=2, generator=torch.Generator().manual_seed(0))
    singles = []
    for r in range(2):
        one = M.build_arm("moe_learned", 4, 2, 2)
        with torch.no_grad():
            for p1, p2 in zip(one.parameters(), both.parameters(), strict=True):
                p1.copy_(p2[r:r + 1])
        singles.append(one)
    curve = M.train(both, M.stack_batches(batches), steps=20, lr=0.01)
    for r, (one, data) in enumerate(zip(singles, batches, strict=True)):
        single = M.train(one, data, steps=20, lr=0.01)
        np.testing.assert_allclose(curve[:, r], single[:, 0], rtol=1e-4, atol=1e-6)


def test_sweep_shapes_and_steps_to_reach():
    res = M.noise_sweep(modules=2, block_size=2, hidden=2, n_train=32, n_test=32, sigmas=(0.0, 0.5),
                        taus=(0.1, 0.2, 0.3), seeds=(0, 1, 2), steps=3, arms=("dense_learned", "moe_learned"))
    assert res.error["dense_learned"].shape == (3, 2) and res.robust["dense_learned"].shape == (3, 2, 3)
    assert res.curves["moe_learned"].shape == (3, 2, 3) and res.routing.shape == (3, 2)
    assert res.index(0.5) == 1 and res.params["dense_learned"] == res.params["moe_learned"]
    with pytest.raises(ValueError, match="not swept"):
        res.index(0.25)
    curves = np.array([[3.0, 2.0, 1.0], [3.0, 3.0, 3.0]])
    assert M.steps_to_reach(curves, 2.0).tolist() == [1, 4]


def test_bad_input_raises_value_error():
    task = M.modular_task(2, 2)
    moe = M.MixtureOfExperts(4, 4, 2, 2, router="oracle")
    for call in (lambda: task.sample(0, 0.1), lambda: task.sample(5, -1.0), lambda: M.modular_task(0, 2),
                 lambda: M.add_feature_noise(torch.tensor([float("nan")]), 0.1),
                 lambda: moe(torch.randn(3, 4)), lambda: moe(torch.randn(3, 5, 4)),
                 lambda: moe(torch.randn(3, 4), route=torch.tensor([0, 1, 2])),
                 lambda: M.MixtureOfExperts(4, 4, 2, 2, top_k=3), lambda: M.DenseFFN(4, 4, 2, "tanh"),
                 lambda: M.population_error(2, 0.1, "sparse"), lambda: M.build_arm("moe", 4, 2, 2)):
        with pytest.raises(ValueError):
            call()
