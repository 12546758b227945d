"""Input-dependent FJ deliberation: the mixture-of-experts identities, simulated agents, proxies."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from relml.dynamics.deliberation import (
    PROXIES,
    accuracy,
    agent_competence,
    check_deliberation,
    compare_methods,
    degroot_weights,
    deliberate,
    fj_parameters,
    group_belief,
    influence_proxies,
    influence_share,
    majority_votes,
    make_overconfident,
    proxy_correlations,
    rank_correlation,
    routing_experiment,
    routing_matrix,
    simulate_agents,
)
from relml.dynamics.opinion import fj_equilibrium, fj_limit, fj_simulate, influence_matrix


def random_batch(Q=6, n=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.random((Q, n, n)) + 0.1
    W /= W.sum(-1, keepdims=True)
    s = rng.uniform(0.05, 0.9, (Q, n))
    x0 = rng.dirichlet(np.ones(k), size=(Q, n))
    return W, s, x0


def test_router_is_the_fixed_point_and_the_finite_round_map():
    W, s, x0 = random_batch()
    P = routing_matrix(W, s)
    np.testing.assert_allclose(P, influence_matrix(W, s), atol=1e-12)
    np.testing.assert_allclose(P @ x0, fj_equilibrium(W, s, x0), atol=1e-12)
    traj = fj_simulate(W, s, x0, steps=7)  # (T, Q, n, k)
    for r in (0, 1, 3, 7):
        M = routing_matrix(W, s, rounds=r)
        np.testing.assert_allclose(M.sum(-1), 1.0, atol=1e-12)
        np.testing.assert_allclose(M @ x0, traj[r], atol=1e-12)
        np.testing.assert_allclose(deliberate(W, s, x0, rounds=r), traj[r], atol=1e-12)


def test_group_answer_is_the_mixture_of_initial_beliefs():
    W, s, x0 = random_batch(seed=1)
    P = routing_matrix(W, s)
    share = influence_share(P)
    np.testing.assert_allclose(share.sum(-1), 1.0, atol=1e-12)
    assert np.all(share >= 0)
    # Σ_j π_j x_j(0) equals the mean of the agents' final beliefs
    np.testing.assert_allclose(group_belief(P, x0), deliberate(W, s, x0).mean(1), atol=1e-12)


def test_degroot_weights_are_stationary_and_give_the_consensus():
    W, _, x0 = random_batch(seed=2)
    pi = degroot_weights(W)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.einsum("qi,qij->qj", pi, W), pi, atol=1e-9)
    limit = fj_limit(W, np.zeros(W.shape[:-1]), x0)
    np.testing.assert_allclose(limit, np.einsum("qj,qjk->qk", pi, x0)[:, None].repeat(4, 1), atol=1e-8)


def test_shared_parameters_broadcast_over_questions():
    W, s, x0 = random_batch(seed=3)
    P = routing_matrix(W[0], s[0])
    assert P.shape == (4, 4)
    out = deliberate(W[0], s[0], x0)
    np.testing.assert_allclose(out, P @ x0, atol=1e-12)


def test_bad_shapes_are_clear_errors():
    W, s, x0 = random_batch(Q=5, n=4)
    with pytest.raises(ValueError, match="stubbornness s must have shape"):
        routing_matrix(W, s[:, :3])
    with pytest.raises(ValueError, match="stubbornness s must have shape"):
        routing_matrix(W, s[..., None])
    with pytest.raises(ValueError, match="number of questions"):
        routing_matrix(W, s[:3])
    with pytest.raises(ValueError, match="x0 must have shape"):
        deliberate(W, s, x0[:, :3])
    with pytest.raises(ValueError, match="number of questions"):
        deliberate(W, s, x0[:2])
    with pytest.raises(ValueError, match=r"W must be square|shape \(Q, n, n\)"):
        check_deliberation(W[..., :3], s)
    with pytest.raises(ValueError, match="row-stochastic"):
        routing_matrix(W * 2, s)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        routing_matrix(W, s + 1)
    with pytest.raises(ValueError, match="rounds"):
        routing_matrix(W, s, rounds=-1)


def test_accuracy_credits_ties_fractionally_and_majority_counts_votes():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    assert accuracy(scores, np.array([0, 2, 1])) == pytest.approx((0.5 + 1 + 1 / 3) / 3)
    x0 = np.random.default_rng(0).dirichlet(np.ones(4), size=(10, 5))
    votes = majority_votes(x0)
    expected = np.stack([np.bincount(a, minlength=4) for a in x0.argmax(-1)])
    np.testing.assert_array_equal(votes, expected)
    assert np.all(votes.sum(-1) == 5)


def test_simulated_agents_follow_their_latent_competence():
    comp = agent_competence(5, 4, seed=0)
    assert comp.shape == (5, 4)
    np.testing.assert_array_equal(comp.argmax(0), np.arange(4))  # agent t is the expert of topic t
    agents = simulate_agents(comp, 6000, seed=1)
    np.testing.assert_allclose(agents.x0.sum(-1), 1.0, atol=1e-12)
    assert np.all(agents.x0 >= 0)
    correct = agents.answers == agents.correct[:, None]
    for t in range(4):
        on = agents.topic == t
        np.testing.assert_allclose(correct[on].mean(0), comp[:, t], atol=0.05)
        np.testing.assert_allclose(agents.confidence[on].mean(0), comp[:, t], atol=0.02)  # calibrated
    again = simulate_agents(comp, 6000, seed=1)
    np.testing.assert_array_equal(again.x0, agents.x0)


def test_overconfidence_changes_only_that_agents_signals():
    agents = simulate_agents(agent_competence(5, 4, seed=0), 500, seed=0)
    bad = make_overconfident(agents, 4, 0.95)
    np.testing.assert_array_equal(bad.x0, agents.x0)
    np.testing.assert_array_equal(bad.confidence[:, :4], agents.confidence[:, :4])
    np.testing.assert_array_equal(bad.perceived[..., :4], agents.perceived[..., :4])
    assert bad.confidence[:, 4].mean() > 0.9 > agents.confidence[:, 4].mean()
    with pytest.raises(ValueError, match="agent must be an index"):
        make_overconfident(agents, 5)


def test_fj_parameters_are_valid_and_follow_confidence():
    agents = simulate_agents(agent_competence(5, 4, seed=0), 300, seed=0)
    W, s = fj_parameters(agents, stubbornness_max=0.8)
    np.testing.assert_allclose(W.sum(-1), 1.0, atol=1e-12)
    assert np.all((s >= 0) & (s <= 0.8))
    order = np.argsort(agents.confidence, axis=-1)
    assert np.all(np.diff(np.take_along_axis(s, order, -1), axis=-1) >= 0)  # monotone in confidence
    # more confident-looking peers get more trust from every observer, other things equal
    W0, _ = fj_parameters(agents, trust_alignment=0.0)
    r = rank_correlation(agents.perceived[:, 0, 1:], W0[:, 0, 1:])
    assert np.all(r[np.isfinite(r)] > 0.99)


def test_symmetric_agents_route_uniformly():
    agents = simulate_agents(agent_competence(5, 4, seed=0), 400, seed=3, confidence_noise=0.0,
                             perception_noise=0.0)
    n = agents.n
    W = np.full((400, n, n), 1.0 / n)
    s = np.full((400, n), 0.3)
    P = routing_matrix(W, s)
    np.testing.assert_allclose(influence_share(P), 1.0 / n, atol=1e-12)
    res = compare_methods(agents, W, s)
    assert res["FJ deliberation (MAS)"] == pytest.approx(res["uniform average"])


def test_rank_correlation_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random((20, 6)), rng.random((20, 6))
    b[3] = a[3] * 2 + 1
    b[5] = 1.0
    r = rank_correlation(a, b)
    for q in (0, 7, 11):
        assert r[q] == pytest.approx(spearmanr(a[q], b[q]).statistic)
    assert r[3] == pytest.approx(1.0) and np.isnan(r[5])
    with pytest.raises(ValueError):
        rank_correlation(a, b[:, :5])


def test_proxies_and_influence_of_a_run():
    res = routing_experiment(0, n_questions=300)
    agents, bad = res["agents"]
    proxies = agents.proxies()
    assert list(proxies) == list(PROXIES) and all(p.shape == (300, 5) for p in proxies.values())
    alignment = proxies[PROXIES[2]]
    assert np.all((alignment >= 0) & (alignment <= 1))
    corr = proxy_correlations(res["share"][0], proxies)
    assert set(corr) == set(PROXIES) and all(-1 <= v <= 1 for v in corr.values())
    # the overconfident agent's influence share grows
    assert res["share"][1][:, res["weak"]].mean() > res["share"][0][:, res["weak"]].mean()
    with pytest.raises(ValueError, match="perceived"):
        influence_proxies(agents.x0, agents.confidence, agents.perceived[:, :, :4])
