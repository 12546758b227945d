"""Friedkin–Johnsen dynamics, the adversary's takeover, the three levers and the trust-adaptive defence."""

import networkx as nx
import numpy as np
import pytest

from relml.dynamics import (
    TOPOLOGIES,
    SingularFJError,
    adversary_influence,
    agent_network,
    build_network,
    capture_rate,
    defence_sweep,
    disagreement,
    fj_equilibrium,
    fj_limit,
    fj_simulate,
    influence_matrix,
    initial_opinions,
    make_topology,
    mean_benign_opinion,
    sweep_attack,
    sweep_lever,
    trust_adaptive_defence,
    trust_matrix,
    unreached_agents,
    with_benign_stubbornness,
    with_trust,
)


def random_fj(n, seed, k=None):
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) * (rng.random((n, n)) < 0.5) + np.eye(n)
    W /= W.sum(1, keepdims=True)
    s = rng.uniform(0.05, 0.9, n)
    x0 = rng.normal(size=(n,) if k is None else (n, k))
    return W, s, x0


# ---------------------------------------------------------------------------------------------
# closed form vs simulation


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_closed_form_equals_simulation(topology):
    net = agent_network(topology, 9, seed=1, trust=2.0, benign_stubbornness=0.1)
    rng = np.random.default_rng(0)
    s = net.s.copy()
    s[net.benign] = rng.uniform(0.02, 0.5, net.benign.sum())  # heterogeneous stubbornness
    x0 = initial_opinions(net, 4, seed=0)
    closed = fj_equilibrium(net.W, s, x0)
    traj = fj_simulate(net.W, s, x0, steps=20_000, tol=1e-14)
    assert traj.shape[1:] == x0.shape
    np.testing.assert_allclose(traj[-1], closed, atol=1e-10)


def test_closed_form_vector_and_batch():
    W, s, x0 = random_fj(7, 3)
    closed = fj_equilibrium(W, s, x0)
    assert closed.shape == (7,)
    np.testing.assert_allclose(fj_simulate(W, s, x0, steps=5000, tol=1e-15)[-1], closed, atol=1e-10)
    # a batch of stubbornness vectors, and k questions at once
    S = np.stack([s, s * 0.5, np.full(7, 0.3)])
    X = np.stack([x0, -x0], axis=1)  # (n, 2)
    batch = fj_equilibrium(W, S, X)
    assert batch.shape == (3, 7, 2)
    for b in range(3):
        np.testing.assert_allclose(batch[b], fj_equilibrium(W, S[b], X), atol=1e-12)
    traj = fj_simulate(W, S, X, steps=3000, tol=1e-15)
    np.testing.assert_allclose(traj[-1], batch, atol=1e-10)


def test_simulate_trajectory_shape_and_tol():
    W, s, x0 = random_fj(5, 0, k=3)
    traj = fj_simulate(W, s, x0, steps=10)
    assert traj.shape == (11, 5, 3)
    np.testing.assert_array_equal(traj[0], x0)
    np.testing.assert_allclose(traj[1], s[:, None] * x0 + (1 - s)[:, None] * (W @ x0))
    short = fj_simulate(W, s, x0, steps=10_000, tol=1e-6)
    assert len(short) < 10_001
    assert np.max(np.abs(short[-1] - short[-2])) < 1e-6


def test_influence_matrix_row_stochastic_and_reproduces_equilibrium():
    for seed in range(3):
        W, s, x0 = random_fj(8, seed)
        P = influence_matrix(W, s)
        assert np.all(P >= -1e-12)
        np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(P @ x0, fj_equilibrium(W, s, x0), atol=1e-12)
    net = agent_network("karate", trust=3.0, benign_stubbornness=0.2)
    np.testing.assert_allclose(influence_matrix(net.W, net.s).sum(1), 1.0, atol=1e-12)


def test_degroot_group_is_singular_but_simulates():
    W = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    s = np.zeros(3)
    assert unreached_agents(W, s).all()
    with pytest.raises(SingularFJError, match="fj_simulate"):
        fj_equilibrium(W, s, np.array([0.0, 1.0, 0.3]))
    with pytest.raises(SingularFJError):
        influence_matrix(W, s)
    x = fj_limit(W, s, np.array([0.0, 1.0, 0.3]))
    np.testing.assert_allclose(x, 0.5, atol=1e-9)  # DeGroot consensus
    # one stubborn agent reachable from all makes it unique again
    s[0] = 0.1
    assert not unreached_agents(W, s).any()
    fj_equilibrium(W, s, np.array([0.0, 1.0, 0.3]))


# ---------------------------------------------------------------------------------------------
# networks and the takeover


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_network_builder(topology):
    net = agent_network(topology, 7, seed=2, trust=3.0, benign_stubbornness=0.2, adversary_stubbornness=0.9)
    assert net.W.shape == (net.n, net.n)
    np.testing.assert_allclose(net.W.sum(1), 1.0)
    assert nx.is_connected(net.graph)
    a = net.adversary
    assert net.s[a] == 0.9 and np.all(net.s[net.benign] == 0.2)
    assert net.benign.sum() == net.n - 1
    # a neighbour i weighs the adversary trust / (deg_i + trust)
    for i in net.graph.neighbors(a):
        deg = net.graph.degree(i)
        assert net.W[i, a] == pytest.approx(3.0 / (deg + 3.0))
    clean = agent_network(topology, 7, seed=2, attack=False)
    assert clean.adversary is None and clean.benign.all()
    if topology not in ("karate", "florentine"):
        assert net.n == 8


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_stubborn_adversary_captures_everyone(topology):
    net = agent_network(topology, 9, seed=0, trust=1.0, benign_stubbornness=0.0, adversary_stubbornness=1.0)
    x0 = initial_opinions(net, 3, seed=0, adversary_value=1.0)
    x = fj_equilibrium(net.W, net.s, x0)
    np.testing.assert_allclose(x, 1.0, atol=1e-9)
    P = influence_matrix(net.W, net.s)
    assert adversary_influence(P, net) == pytest.approx(1.0)
    assert capture_rate(x, net.benign) == 1.0


def test_adversary_needs_stubbornness_and_trust():
    r = sweep_attack("complete", [0.0, 0.5, 1.0], [0.0, 1.0, 4.0], n_benign=8, benign_stubbornness=0.05,
                     seeds=[0, 1])
    infl = r["influence"].mean(-1)
    assert np.all(infl[0] == 0)          # s_a = 0: its initial opinion is forgotten
    assert np.all(infl[:, 0] == 0)       # nobody trusts it
    assert np.all(np.diff(infl[1:, 1:], axis=0) > 0) and np.all(np.diff(infl[1:, 1:], axis=1) > 0)


# ---------------------------------------------------------------------------------------------
# the three levers, each lowering attack success monotonically


@pytest.mark.parametrize("topology", ["complete", "erdos_renyi", "ring"])
def test_more_benign_agents_lower_influence(topology):
    r = sweep_lever("n_benign", [2, 4, 8, 16, 32], topology=topology, trust=2.0, benign_stubbornness=0.05,
                    seeds=[0, 1, 2])
    infl = r["influence"].mean(1)
    assert np.all(np.diff(infl) < 0)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_benign_stubbornness_lowers_influence_and_costs_consensus(topology):
    values = np.linspace(0.0, 0.9, 7)
    r = sweep_lever("benign_stubbornness", values, topology=topology, n_benign=8, trust=2.0, seeds=[0, 1])
    assert np.all(np.diff(r["influence"].mean(1)) < 0)
    assert np.all(np.diff(r["mean_opinion"].mean(1)) < 0)
    assert np.all(np.diff(r["disagreement"].mean(1)) > 0)  # the cost: no consensus without attack


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_less_trust_lowers_influence(topology):
    r = sweep_lever("trust", [0.0, 0.5, 1.0, 2.0, 4.0], topology=topology, n_benign=8,
                    benign_stubbornness=0.05, seeds=[0, 1])
    infl = r["influence"].mean(1)
    assert infl[0] == 0 and np.all(np.diff(infl) > 0)


def test_lever_helpers():
    net = agent_network("ring", 6, trust=2.0, benign_stubbornness=0.1)
    P0 = influence_matrix(net.W, net.s)
    stub = with_benign_stubbornness(net, 0.5)
    assert stub.s[net.adversary] == 1.0
    assert adversary_influence(influence_matrix(stub.W, stub.s), stub) < adversary_influence(P0, net)
    low = with_trust(net, 0.5)
    assert adversary_influence(influence_matrix(low.W, low.s), low) < adversary_influence(P0, net)


# ---------------------------------------------------------------------------------------------
# the trust-adaptive defence


def test_defence_rate_zero_is_plain_fj():
    net = agent_network("karate", trust=2.0, benign_stubbornness=0.1)
    x0 = initial_opinions(net, 3)
    run = trust_adaptive_defence(net.W, net.s, x0, 15, 0.0, record_weights=True)
    np.testing.assert_allclose(run.trajectory, fj_simulate(net.W, net.s, x0, 15), atol=1e-12)
    np.testing.assert_allclose(run.W, net.W, atol=1e-12)
    assert run.W_history.shape == (16, net.n, net.n)


def test_defence_keeps_rows_stochastic_self_weight_and_zeros():
    net = agent_network("florentine", trust=2.0, benign_stubbornness=0.05)
    x0 = initial_opinions(net, 4)
    run = trust_adaptive_defence(net.W, net.s, x0, 20, 4.0, defenders=net.benign, record_weights=True)
    for W in run.W_history:
        np.testing.assert_allclose(W.sum(1), 1.0, atol=1e-12)
        assert np.all(W[net.W == 0] == 0)  # no new edges
        assert np.all(np.diag(W) >= np.diag(net.W) - 1e-12)  # self-weight never decays
    np.testing.assert_array_equal(run.W[net.adversary], net.W[net.adversary])  # non-defender row unchanged
    nbrs = list(net.graph.neighbors(net.adversary))
    assert np.all(run.W[nbrs, net.adversary] < 1e-3 * net.W[nbrs, net.adversary])


@pytest.mark.parametrize("topology", ["complete", "ring", "erdos_renyi", "karate", "florentine"])
def test_defence_lowers_attack_and_keeps_consensus(topology):
    r = defence_sweep(topology, 10, rates=[0.0, 2.0], stubbornness_levels=[0.05], seeds=[0, 1, 2], rounds=30,
                      trust=2.0, benign_stubbornness=0.05, n_questions=8)
    asr = r["defence_asr"].mean(1)
    dis = r["defence_disagreement"].mean(1)
    assert asr[1] < 0.5 * asr[0]
    assert dis[1] < 1.5 * dis[0] + 0.01
    assert r["defence_trust"].mean(1)[1] < 0.05 * r["defence_trust"].mean(1)[0]


def test_defence_beats_raising_stubbornness():
    r = defence_sweep("complete", 10, rates=[2.0], stubbornness_levels=[0.4], seeds=[0, 1, 2], rounds=30,
                      trust=2.0, benign_stubbornness=0.05, n_questions=8)
    assert r["defence_asr"].mean() < r["stubborn_asr"].mean()
    assert r["defence_disagreement"].mean() < r["stubborn_disagreement"].mean()


def test_defence_batched_rates_match_single_runs():
    net = agent_network("ring", 8, trust=2.0, benign_stubbornness=0.05)
    x0 = initial_opinions(net, 2)
    batch = trust_adaptive_defence(net.W, net.s, x0, 10, np.array([0.5, 3.0]), defenders=net.benign)
    for b, eta in enumerate([0.5, 3.0]):
        single = trust_adaptive_defence(net.W, net.s, x0, 10, eta, defenders=net.benign)
        np.testing.assert_allclose(batch.trajectory[:, b], single.trajectory, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# metrics


def test_metrics():
    benign = np.array([True, True, True, False])
    x = np.array([[0.2, 0.6], [0.4, 0.8], [0.9, 0.1], [1.0, 1.0]])
    assert mean_benign_opinion(x, benign) == pytest.approx(0.5)
    assert capture_rate(x, benign) == pytest.approx(0.5)
    assert disagreement(x, benign) == pytest.approx(np.mean([x[:3, 0].std(), x[:3, 1].std()]))
    assert capture_rate(x[:, 0], benign) == pytest.approx(1 / 3)
    assert capture_rate(np.stack([x, x]), benign).shape == (2,)


# ---------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize("W, message", [
    (np.ones((2, 3)) / 3, "square"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), "non-negative"),
    (np.array([[0.5, 0.4], [0.5, 0.5]]), "row-stochastic"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), "NaN"),
])
def test_bad_trust_matrix_raises(W, message):
    with pytest.raises(ValueError, match=message):
        fj_equilibrium(W, np.array([0.5, 0.5]), np.zeros(2))


@pytest.mark.parametrize("s, message", [
    (np.array([0.5, np.nan]), "NaN"),
    (np.array([0.5, 1.2]), r"\[0, 1\]"),
    (np.array([-0.1, 0.5]), r"\[0, 1\]"),
    (np.array([0.5, 0.5, 0.5]), "shape"),
])
def test_bad_stubbornness_raises(s, message):
    W = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match=message):
        fj_simulate(W, s, np.zeros(2), 3)


def test_other_bad_inputs_raise():
    W = np.full((2, 2), 0.5)
    s = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="x0"):
        fj_equilibrium(W, s, np.zeros(3))
    with pytest.raises(ValueError, match="steps"):
        fj_simulate(W, s, np.zeros(2), -1)
    with pytest.raises(ValueError, match="unknown topology"):
        make_topology("hypercube", 5)
    with pytest.raises(ValueError, match="n_agents"):
        make_topology("ring", 1)
    with pytest.raises(ValueError, match="adversary"):
        build_network(nx.complete_graph(4), adversary=9)
    with pytest.raises(ValueError, match="trust"):
        trust_matrix(nx.complete_graph(4), 0, -1.0)
    with pytest.raises(ValueError, match="rate"):
        trust_adaptive_defence(W, s, np.zeros(2), 3, -1.0)
    with pytest.raises(ValueError, match="defenders"):
        trust_adaptive_defence(W, s, np.zeros(2), 3, 1.0, defenders=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="lever"):
        sweep_lever("budget", [1], topology="ring")
