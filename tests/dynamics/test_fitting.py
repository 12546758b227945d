"""Constrained least-squares FJ fits: exact recovery, consistency, the QP solver, input dependence."""

import numpy as np
import pytest
from scipy.optimize import minimize

from relml.dynamics.fitting import (
    fit_fj,
    fj_normal_equations,
    parameter_errors,
    simplex_least_squares,
    simulate_trajectories,
    topic_variance_explained,
)
from relml.dynamics.opinion import fj_simulate, influence_matrix


def planted(Q=50, n=5, k=4, seed=0):
    rng = np.random.default_rng(seed)
    # sparse trust, but everyone listens to itself and to its ring successor: an agent that hears only
    # itself never moves, and then its anchor and self-weight are not identifiable
    W = rng.random((Q, n, n)) * (rng.random((Q, n, n)) < 0.7) + 0.2 * (np.eye(n) + np.roll(np.eye(n), 1, 1))
    W /= W.sum(-1, keepdims=True)
    s = rng.uniform(0.05, 0.8, (Q, n))
    x0 = rng.dirichlet(np.ones(k), size=(Q, n))
    return W, s, x0


def test_noise_free_trajectories_give_back_the_planted_parameters():
    W, s, x0 = planted()
    traj = simulate_trajectories(W, s, x0, 5)
    np.testing.assert_allclose(traj, np.moveaxis(fj_simulate(W, s, x0, steps=5), 0, -3), atol=1e-12)
    fit = fit_fj(traj)
    np.testing.assert_allclose(fit.s, s, atol=1e-7)
    np.testing.assert_allclose(fit.A, (1 - s)[..., None] * W, atol=1e-7)
    np.testing.assert_allclose(fit.W, W, atol=1e-6)
    np.testing.assert_allclose(fit.influence(), influence_matrix(W, s), atol=1e-6)
    assert fit.rmse.max() < 1e-7


def test_fit_respects_the_constraints_and_error_shrinks_with_noise():
    W, s, x0 = planted(Q=200, seed=1)
    errors = []
    for noise in (0.02, 0.005, 0.001):
        fit = fit_fj(simulate_trajectories(W, s, x0, 6, noise=noise, seed=2))
        assert np.all(fit.s >= 0) and np.all(fit.A >= 0)
        np.testing.assert_allclose(fit.s + fit.A.sum(-1), 1.0, atol=1e-9)
        errors.append(parameter_errors(fit, W, s)["s"])
        assert fit.rmse.mean() == pytest.approx(noise, rel=0.5)  # the residual is the noise level
    assert errors[0] > 2 * errors[1] > 4 * errors[2]
    assert errors[2] < 0.01


def test_noisy_trajectories_stay_on_the_simplex_sum():
    W, s, x0 = planted(Q=3)
    traj = simulate_trajectories(W, s, x0, 4, noise=0.05, seed=0)
    np.testing.assert_allclose(traj.sum(-1), 1.0, atol=1e-12)
    again = simulate_trajectories(W, s, x0, 4, noise=0.05, seed=0)
    np.testing.assert_array_equal(traj, again)


def test_an_agent_that_never_moves_is_not_identifiable_but_fits_exactly():
    W = np.array([[1.0, 0.0], [0.5, 0.5]])  # agent 0 listens only to itself: x_0(t) = x_0(0)
    traj = fj_simulate(W, np.array([0.3, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]]), steps=6)
    fit = fit_fj(traj)
    assert fit.rmse.max() < 1e-9                     # every s_0 in [0, 1] fits agent 0 perfectly
    assert fit.s[1] == pytest.approx(0.4, abs=1e-7)  # the agent that moves is recovered


def test_scalar_opinions_fit():
    rng = np.random.default_rng(3)
    n = 4
    W = rng.random((n, n))
    W /= W.sum(1, keepdims=True)
    s = rng.uniform(0.1, 0.6, n)
    traj = fj_simulate(W, s, rng.random(n), steps=12)  # (T+1, n)
    fit = fit_fj(traj)
    np.testing.assert_allclose(fit.s, s, atol=1e-6)


def test_simplex_qp_matches_scipy_and_meets_kkt():
    rng = np.random.default_rng(0)
    B, d = 30, 6
    Z = rng.normal(size=(B, 10, d)) * rng.uniform(0.01, 3, size=(B, 1, d))  # badly scaled columns
    y = rng.normal(size=(B, 10))
    G = np.einsum("bmi,bmj->bij", Z, Z)
    b = np.einsum("bmi,bm->bi", Z, y)
    theta, _ = simplex_least_squares(G, b)
    np.testing.assert_allclose(theta.sum(-1), 1.0, atol=1e-12)
    assert np.all(theta >= 0)
    f = lambda t, g, c: 0.5 * t @ g @ t - c @ t
    for i in range(B):
        ref = minimize(f, np.full(d, 1 / d), args=(G[i], b[i]), method="SLSQP", bounds=[(0, 1)] * d,
                       constraints={"type": "eq", "fun": lambda t: t.sum() - 1}, options={"ftol": 1e-14})
        assert f(theta[i], G[i], b[i]) <= f(ref.x, G[i], b[i]) + 1e-9
        g = G[i] @ theta[i] - b[i]
        on = theta[i] > 1e-10
        nu = -g[on].mean()
        np.testing.assert_allclose(g[on], -nu, atol=1e-8)  # stationary on the support
        assert np.all(g[~on] + nu >= -1e-8)                # non-negative bound multipliers


def test_normal_equations_match_explicit_regression():
    W, s, x0 = planted(Q=1, n=3, k=2, seed=4)
    traj = simulate_trajectories(W, s, x0, 3, noise=0.01, seed=0)[0]  # (T+1, n, k)
    G, b, yy = fj_normal_equations(traj)
    i = 1
    Z = np.concatenate([np.stack([traj[0, i]] + [traj[t, j] for j in range(3)], -1) for t in range(3)])
    y = np.concatenate([traj[t + 1, i] for t in range(3)])
    np.testing.assert_allclose(G[i], Z.T @ Z, atol=1e-12)
    np.testing.assert_allclose(b[i], Z.T @ y, atol=1e-12)
    assert yy[i] == pytest.approx(y @ y)


def test_topic_variance_explained():
    rng = np.random.default_rng(0)
    groups = rng.integers(4, size=2000)
    by_topic = np.stack([groups * 1.0, rng.normal(size=2000)], -1)
    eta = topic_variance_explained(by_topic, groups)
    assert eta[0] == pytest.approx(1.0) and eta[1] < 0.01


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="at least two time points"):
        fit_fj(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        fit_fj(np.full((3, 3, 2), np.nan))
    with pytest.raises(ValueError, match=r"G must be \(\.\.\., d, d\)"):
        simplex_least_squares(np.eye(3), np.ones(4))
    W, s, x0 = planted(Q=2)
    with pytest.raises(ValueError, match="rounds"):
        simulate_trajectories(W, s, x0, 0)
    with pytest.raises(ValueError, match="need W"):
        simulate_trajectories(W, s[:, :3], x0, 2)
    with pytest.raises(ValueError, match="groups"):
        topic_variance_explained(np.zeros((5, 2)), np.zeros(4))
