import math

import pytest
import torch

from relml.learning import games as G


def test_vector_field_is_the_signed_gradient_of_f_and_jacobian_its_derivative():
    game = G.random_scsc_game(5, mu_x=0.3, mu_y=0.7, seed=[1, 2])
    z = G.random_start(game, seed=[3, 4]).requires_grad_(True)
    grad = torch.autograd.grad(game.loss(z).sum(), z)[0]
    expected = torch.cat([grad[:, :5], -grad[:, 5:]], dim=1)
    assert torch.allclose(game.vector_field(z), expected)
    jac = torch.autograd.functional.jacobian(game[0].vector_field, z[0].detach())
    assert torch.allclose(game.jacobian()[0], jac)
    v = torch.randn(10, dtype=torch.float64)
    assert torch.allclose(game[0].jvp(v), jac @ v)


def test_spectra_are_pure_rotation_for_bilinear_and_shifted_for_scsc():
    bil = G.random_bilinear_game(6, beta=0.6, seed=0)
    sigma = torch.linalg.svdvals(bil.a)
    lam = bil.eigenvalues()
    assert lam.real.abs().max() < 1e-10
    assert torch.allclose(lam.imag.abs().sort().values, sigma.repeat_interleave(2).sort().values)
    mixed = G.random_scsc_game(6, mu_x=0.18, mu_y=0.18, sigma_min=0.25, sigma_max=0.45, seed=0)
    lam = mixed.eigenvalues()
    assert torch.allclose(lam.real, torch.full_like(lam.real, 0.18))
    assert torch.allclose(lam.imag.abs().sort().values, torch.linspace(0.25, 0.45, 6, dtype=torch.float64)
                          .repeat_interleave(2).sort().values)


def test_a_batch_of_seeds_holds_the_same_games_as_each_seed_alone():
    batch = G.random_bilinear_game(4, seed=[7, 8])
    assert torch.equal(batch.a[1], G.random_bilinear_game(4, seed=8).a)
    assert torch.equal(G.random_start(batch, seed=[1, 2])[0], G.random_start(batch[0], seed=1))
    with pytest.raises(ValueError, match="one start seed per game"):
        G.random_start(batch, seed=1)


def test_gda_spirals_out_at_the_closed_form_rate_on_a_single_mode_bilinear_game():
    # A = σ I: every mode has |T| = sqrt(1 + γ²σ²), so ‖z_t‖ = (1 + γ²σ²)^{t/2} ‖z_0‖
    sigma, lr, steps = 0.8, 0.1, 50
    game = G.BilinearGame(sigma * torch.eye(3, dtype=torch.float64))
    z0 = G.random_start(game, seed=0)
    dist = G.run_method(game, z0, "gda", steps, lr)
    t = torch.arange(steps + 1, dtype=torch.float64)
    assert torch.allclose(dist, dist[0] * (1 + lr**2 * sigma**2) ** (t / 2))


def test_extragradient_pays_two_evaluations_per_step_and_contracts_at_its_closed_form():
    sigma, lr = 1.0, 0.1
    game = G.BilinearGame(sigma * torch.eye(2, dtype=torch.float64))
    z0 = G.random_start(game, seed=1)
    dist = G.run_method(game, z0, "eg", 7, lr)  # 3 full steps; the 4th is not paid for
    assert dist.shape == (8,)
    rate = abs(1 - lr**2 * sigma**2 - 1j * lr * sigma)  # EG multiplier on the modes ±iσ
    expected = [dist[0] * rate ** (t // 2) for t in range(8)]
    assert torch.allclose(dist, torch.stack(expected))


def test_ogda_and_eg_converge_on_the_bilinear_game_where_gda_diverges():
    game = G.random_scsc_game(8, mu_x=0.0, mu_y=0.0, sigma_min=1.0, sigma_max=2.0, seed=[0, 1])
    z0 = G.random_start(game, seed=[2, 3])
    curves, _ = G.compare(game, z0, 600, 0.1)
    assert (curves["gda"][-1] > 2 * curves["gda"][0]).all()
    for m in ("eg", "ogda"):
        assert (curves[m][-1] < 0.5 * curves[m][0]).all()


def test_play_with_sgd_is_gda_and_counts_one_evaluation_per_step():
    game = G.random_scsc_game(6, seed=[0, 1, 2])
    z0 = G.random_start(game, seed=[5, 6, 7])
    dist, opt = G.play(game, z0, lambda groups: torch.optim.SGD(groups, lr=0.1), 40)
    assert dist.shape == (41, 3) and [g["game"] for g in opt.param_groups] == [0, 1, 2]
    assert torch.allclose(dist, G.run_method(game, z0, "gda", 40, 0.1))


def test_steps_to_reach_and_per_cycle_contraction():
    d = torch.tensor([[1.0, 2.0], [0.7, 1.5], [0.4, 1.2], [0.2, 1.1]])
    assert G.steps_to_reach(d, 0.5).tolist() == [2, 4]  # the second never halves: budget + 1
    rho, k = 0.3, 4
    t = torch.arange(0, 41, dtype=torch.float64)
    geometric = rho ** (t / k)
    assert math.isclose(G.per_cycle_contraction(geometric, k), rho, rel_tol=1e-12)


def test_bad_input_raises_value_errors_saying_what_to_pass():
    game = G.random_bilinear_game(3, seed=0)
    with pytest.raises(ValueError, match="last dimension"):
        game.vector_field(torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        G.run_method(game, torch.full((6,), math.nan, dtype=torch.float64), "gda", 3, 0.1)
    with pytest.raises(ValueError, match="method must be"):
        G.run_method(game, torch.zeros(6, dtype=torch.float64), "adam", 3, 0.1)
    with pytest.raises(ValueError, match="budget"):
        G.run_method(game, torch.zeros(6, dtype=torch.float64), "gda", 0, 0.1)
    with pytest.raises(ValueError, match="mu_x"):
        G.QuadraticGame(torch.eye(2), mu_x=-1.0)
