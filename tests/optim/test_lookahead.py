import copy
import math

import pytest
import torch

from relml.learning import games as G
from relml.optim.lookahead import (
    LookAhead,
    ModalLookAhead,
    base_multipliers,
    lookahead_contraction,
    max_stable_alpha,
    modal_hyperparameters,
    ritz_eigenvalues,
    top_modes,
    top_singular_value,
)


def _train(opt_factory, steps, seed=0, closure_loss=False):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    opt = opt_factory(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model, opt, (x, y)


@pytest.mark.parametrize("base", [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: torch.optim.Adam(p, lr=0.01)])
def test_lookahead_with_k1_alpha1_is_the_base_optimizer(base):
    plain, _, _ = _train(base, 25)
    wrapped, _, _ = _train(lambda p: LookAhead(base(p), k=1, alpha=1.0), 25)
    for a, b in zip(plain.parameters(), wrapped.parameters(), strict=True):
        assert torch.equal(a, b)


def test_lookahead_averages_every_k_steps_from_the_first_anchor():
    p = torch.zeros(2, dtype=torch.float64)
    opt = LookAhead(torch.optim.SGD([p], lr=1.0), k=3, alpha=0.25)
    for _ in range(3):
        p.grad = -torch.ones(2, dtype=torch.float64)  # each base step moves p by +1
        opt.step()
    assert torch.allclose(p, torch.full((2,), 0.75, dtype=torch.float64))  # 0 + 0.25 · (3 − 0)
    assert opt.param_groups[0]["lookahead_cycles"] == 1 and opt.param_groups[0]["lookahead_step"] == 0


def test_state_dict_round_trip_resumes_mid_cycle_exactly():
    def make(params):
        return ModalLookAhead(torch.optim.Adam(params, lr=0.01), k=4, alpha=0.6)

    full, _, (x, y) = _train(make, 30)
    half, opt, _ = _train(make, 17)  # 17 = 4 cycles + 1 step into the fifth
    saved = copy.deepcopy(opt.state_dict())
    resumed = copy.deepcopy(half)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lookahead_step"] == 1 and opt2.param_groups[0]["lookahead_k"] == 4
    for _ in range(13):
        opt2.zero_grad()
        torch.nn.functional.mse_loss(resumed(x), y).backward()
        opt2.step()
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not a LookAhead state dict"):
        opt2.load_state_dict(torch.optim.Adam(resumed.parameters()).state_dict())


def test_one_cycle_contracts_a_single_mode_by_the_closed_form_rho():
    # A = σ I: every Jacobian eigenvalue is ±iσ, so each cycle scales ‖z‖ by |(1 − α) + α T^k| exactly
    sigma, lr, k, alpha = 0.7, 0.1, 9, 0.4
    game = G.BilinearGame(sigma * torch.eye(3, dtype=torch.float64))
    z0 = G.random_start(game, seed=0)
    dist, _ = G.play(game, z0, lambda g: LookAhead(torch.optim.SGD(g, lr=lr), k=k, alpha=alpha), 5 * k)
    rho = float(lookahead_contraction(torch.tensor(1 - 1j * lr * sigma), k, alpha))
    assert torch.allclose(dist[::k] / dist[0], rho ** torch.arange(6, dtype=torch.float64))


@pytest.mark.parametrize("lam", [0.3j, 1.2j, 0.18 + 0.45j, 0.5 + 0.5j, 0.02 + 2.0j])
def test_selected_k_alpha_annihilates_a_single_mode_and_is_schur_stable(lam):
    t = base_multipliers(torch.tensor([lam, complex(lam).conjugate()]), lr=0.1)
    choice = modal_hyperparameters(t)
    assert 2 <= choice.k <= 256 and 0 < choice.alpha < 1
    assert choice.rho < 0.1  # |(1 − α) + α T^k| ≈ 0: the mode is (nearly) cancelled in one cycle
    assert choice.alpha <= max_stable_alpha(t, choice.k) + 1e-12
    assert math.isclose(choice.rate, choice.rho ** (1 / choice.k))
    # annihilation: T^k ≈ −(1 − α)/α, up to the rounding of k to an integer
    tk = complex(t[0]) ** choice.k
    assert abs(tk + (1 - choice.alpha) / choice.alpha) < 0.25 * abs(tk)


def test_stability_bound_is_where_every_mode_stops_growing():
    t = base_multipliers(torch.tensor([0.4j, -0.4j, 0.9j, -0.9j, 1.3j, -1.3j]), lr=0.1)
    for k in (5, 20, 40):
        amax = max_stable_alpha(t, k)
        if amax > 0:
            a = min(amax, 1.0)
            assert lookahead_contraction(t, k, a * 0.999).max() <= 1 + 1e-9
        if amax < 1:
            assert lookahead_contraction(t, k, max(amax, 0) + 1e-3).max() > 1


def test_frequency_estimates_match_the_exact_spectrum():
    game = G.random_bilinear_game(30, beta=0.6, seed=3)
    sigma = torch.linalg.svdvals(game.a)
    g = torch.Generator().manual_seed(0)
    s = top_singular_value(lambda v: game.a @ v, lambda u: game.a.T @ u,
                           torch.randn(30, generator=g, dtype=torch.float64), iters=200)
    assert math.isclose(s, float(sigma[0]), rel_tol=1e-3)
    v0 = torch.randn(60, generator=g, dtype=torch.float64)
    ritz = ritz_eigenvalues(game.jvp, v0, steps=16)
    assert ritz.shape == (16,) and math.isclose(float(ritz.abs().max()), float(sigma[0]), rel_tol=1e-3)
    # a full Krylov space gives every eigenvalue
    small = G.random_scsc_game(4, seed=1)
    exact = small.eigenvalues()
    full = ritz_eigenvalues(small.jvp, torch.randn(8, generator=g, dtype=torch.float64), steps=8)
    key = lambda z: (round(z.real, 6), round(z.imag, 6))  # noqa: E731
    assert sorted(map(key, full.tolist())) == sorted(map(key, exact.tolist()))
    top = top_modes(exact, lr=0.1)
    assert top.shape == (2,) and math.isclose(abs(complex(top[0])), float((1 - 0.1 * exact).abs().max()))


def test_mola_converges_on_a_small_bilinear_game_where_gda_and_default_lookahead_are_slow():
    game = G.random_scsc_game(10, mu_x=0.0, mu_y=0.0, sigma_min=0.5, sigma_max=1.0, seed=[0, 1])
    z0 = G.random_start(game, seed=[3, 4])
    v0 = torch.randn(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def spectrum(group):
        return ritz_eigenvalues(game[group["game"]].jvp, v0, steps=10)

    curves, opts = G.compare(game, z0, 1400, 0.1, {
        "la": lambda g: LookAhead(torch.optim.SGD(g, lr=0.1), k=5, alpha=0.5),
        "mola": lambda g: ModalLookAhead(torch.optim.SGD(g, lr=0.1), spectrum)}, methods=("gda",))
    mola = curves["mola"][-1] / curves["mola"][0]
    assert (mola < 1e-6).all()  # converges to the equilibrium z* = 0
    assert (curves["gda"][-1] > curves["gda"][0]).all()
    assert (curves["la"][-1] / curves["la"][0] > 1e3 * mola).all()
    assert all(g["modal_rho"] < 0.1 and g["lookahead_k"] > 5 for g in opts["mola"].param_groups)


def test_mola_retunes_on_schedule_and_validates_its_input():
    calls = []

    def spectrum(group):
        calls.append(group["lookahead_cycles"])
        return torch.tensor([0.8j, -0.8j])

    p = torch.zeros(4, dtype=torch.float64)
    opt = ModalLookAhead(torch.optim.SGD([p], lr=0.1), spectrum, retune_every=2)
    for _ in range(200):
        p.grad = torch.ones(4, dtype=torch.float64)
        opt.step()
    k = opt.param_groups[0]["lookahead_k"]
    assert calls == list(range(0, 200 // k + 1, 2))[: len(calls)] and len(calls) >= 2
    with pytest.raises(ValueError, match="alpha must be"):
        LookAhead(torch.optim.SGD([p], lr=0.1), k=5, alpha=1.5)
    with pytest.raises(ValueError, match="k must be"):
        LookAhead(torch.optim.SGD([p], lr=0.1), k=0)
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        LookAhead([p])
    with pytest.raises(ValueError, match="NaN"):
        modal_hyperparameters(torch.tensor([complex(math.nan, 0.0)]))
    with pytest.raises(ValueError, match="k_min <= k_max"):
        modal_hyperparameters(torch.tensor([0.9 + 0.1j]), k_min=5, k_max=3)
    with pytest.raises(ValueError, match="spectrum="):
        ModalLookAhead(torch.optim.SGD([p], lr=0.1)).retune()


def test_batched_estimates_equal_one_game_at_a_time_and_retune_per_group():
    game = G.random_bilinear_game(12, seed=[0, 1, 2])
    v0 = G.random_start(game, seed=[3, 4, 5])
    batched = ritz_eigenvalues(game.jvp, v0, steps=6)
    for i in range(3):
        assert torch.allclose(batched[i], ritz_eigenvalues(game[i].jvp, v0[i], steps=6))
    sigma = top_singular_value(lambda v: (v.unsqueeze(-2) @ game.a.mT).squeeze(-2),
                               lambda u: (u.unsqueeze(-2) @ game.a).squeeze(-2), v0[:, :12], iters=300)
    assert torch.allclose(sigma, torch.linalg.svdvals(game.a)[:, 0], rtol=1e-3)
    params = [torch.zeros(24, dtype=torch.float64) for _ in range(3)]
    opt = ModalLookAhead(torch.optim.SGD([{"params": [p]} for p in params], lr=0.1))
    choices = opt.retune(game.eigenvalues().unbind(0))
    assert [c.k for c in choices] == [g["lookahead_k"] for g in opt.param_groups]
    with pytest.raises(ValueError, match="one eigenvalue tensor per param group"):
        opt.retune([batched[0]])


def test_wrapper_works_with_lr_schedulers_and_deepcopy():
    p = torch.zeros(3, dtype=torch.float64)
    opt = LookAhead(torch.optim.SGD([p], lr=0.1), k=3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
    for _ in range(4):
        p.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
        sched.step()
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    clone = copy.deepcopy(opt)
    assert clone.param_groups[0]["lookahead_step"] == 1 and len(clone.state) == 1


def test_predicted_factors_reduce_to_gda_for_trivial_lookahead():
    from relml.optim.lookahead import predicted_factors

    lam = torch.tensor([0.3 + 1.0j, 0.3 - 1.0j, 0.5 + 0.0j], dtype=torch.complex128)
    f = predicted_factors(lam, 0.1, {"trivial": (1, 1.0)})
    assert torch.allclose(f["trivial"], f["gda"]) and torch.allclose(f["gda"], (1 - 0.1 * lam).abs())
