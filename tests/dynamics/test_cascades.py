"""Cascade size distributions: SDP against brute force, TDA, the Monte Carlo sampler, distances."""

import networkx as nx
import numpy as np
import pytest

from relml.dynamics import cascades as cs


def asymmetric_model(graph, seed):
    rng = np.random.default_rng(seed)
    model = cs.independent_cascade(graph, 0.0, 0.0)
    return cs.Cascade(rng.uniform(0.05, 0.6, model.n), model.src, model.dst, rng.uniform(0.1, 0.9, model.m))


# ---------------------------------------------------------------------------------------------
# SDP is exact on trees


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fft", ["adaptive", "full"])
def test_sdp_equals_brute_force_on_random_trees(seed, fft):
    model = cs.random_tree_model(5, seed=seed)  # asymmetric w, random p0: 2^13 outcomes
    exact = cs.enumerate_distribution(model)
    np.testing.assert_allclose(cs.tree_distribution(model, fft=fft), exact, atol=1e-12)


def test_sdp_on_a_star_a_path_and_a_directed_forest():
    for graph in (nx.star_graph(4), nx.path_graph(5)):
        model = asymmetric_model(graph, 1)
        np.testing.assert_allclose(cs.tree_distribution(model), cs.enumerate_distribution(model), atol=1e-12)
    forest = nx.DiGraph([(0, 1), (1, 2), (2, 1), (4, 3), (5, 6)])
    forest.add_node(7)  # an isolated node
    model = asymmetric_model(forest, 2)
    np.testing.assert_allclose(cs.tree_distribution(model), cs.enumerate_distribution(model), atol=1e-12)


def test_fixed_seed_and_certain_edges():
    """p0 in {0, 1} (a fixed seed set) and w = 1 edges are handled exactly."""
    w = [1.0, 0.5, 0.5, 1.0, 0.5, 0.5, 1.0, 0.5]
    model = cs.independent_cascade(nx.path_graph(5), [1, 0, 0, 0, 0], w)
    dist = cs.tree_distribution(model)
    np.testing.assert_allclose(dist, cs.enumerate_distribution(model), atol=1e-12)
    assert dist[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 30, 300])
def test_distribution_is_a_probability_vector_with_the_bp_mean(n):
    model = cs.independent_cascade(cs.random_tree(n, seed=n), 0.1, 0.5)
    dist = cs.tree_distribution(model)
    assert dist.shape == (n + 1,) and np.all(dist >= 0) and dist.sum() == pytest.approx(1.0, abs=1e-12)
    # on a tree BP marginals are exact, so their sum is the mean cascade size
    marginals = cs.activation_probabilities(model, sweeps=n + 2)
    assert cs.mean_size(dist) == pytest.approx(marginals.sum(), rel=1e-9)
    assert dist[0] == pytest.approx(0.9**n, rel=1e-9)


def test_tda_is_sdp_on_trees_and_exact_at_zero_on_graphs():
    model = cs.independent_cascade(cs.random_tree(40, seed=3), 0.05, 0.4)
    np.testing.assert_allclose(cs.tda_distribution(model), cs.tree_distribution(model), atol=1e-13)
    loopy = cs.independent_cascade(nx.karate_club_graph(), 0.05, 0.3)
    dist = cs.tda_distribution(loopy)
    assert np.all(dist >= 0) and dist.sum() == pytest.approx(1.0)
    assert dist[0] == pytest.approx(0.95**34)


def test_tda_spanning_tree_keeps_a_tree_and_folds_dropped_edges():
    model = cs.independent_cascade(nx.cycle_graph(5), 0.1, 0.5)
    tree = cs.spanning_tree_model(model)
    assert tree.m == 2 * 4  # one undirected edge dropped, both directions
    dropped = set(zip(model.src.tolist(), model.dst.tolist(), strict=True)) - set(
        zip(tree.src.tolist(), tree.dst.tolist(), strict=True))
    targets = {d for _, d in dropped}
    assert np.all(tree.p0[list(targets)] > 0.1) and np.allclose(np.delete(tree.p0, list(targets)), 0.1)


# ---------------------------------------------------------------------------------------------
# Monte Carlo


def test_monte_carlo_converges_to_the_exact_distribution_on_a_tree():
    model = cs.independent_cascade(cs.random_tree(30, seed=0), 0.1, 0.5)
    exact = cs.tree_distribution(model)
    sizes = cs.sample_cascade_sizes(model, 40_000, rng=0, chunk_elements=2**16)  # several chunks
    tv = cs.total_variation(cs.empirical_distribution(sizes, model.n), exact)
    assert tv < 1.5 * cs.expected_sampling_tv(exact, 40_000)
    assert abs(sizes.mean() - cs.mean_size(exact)) < 5 * sizes.std() / np.sqrt(sizes.size)


def test_monte_carlo_is_reproducible_and_respects_directions():
    forward, backward = nx.DiGraph(), nx.DiGraph()
    forward.add_nodes_from(range(3))
    backward.add_nodes_from(range(3))
    forward.add_edges_from([(0, 1), (1, 2)])
    backward.add_edges_from([(1, 0), (2, 1)])
    assert np.all(cs.sample_cascade_sizes(cs.independent_cascade(forward, [1, 0, 0], 1.0), 50, rng=1) == 3)
    assert np.all(cs.sample_cascade_sizes(cs.independent_cascade(backward, [1, 0, 0], 1.0), 50, rng=1) == 1)
    loopy = cs.independent_cascade(nx.les_miserables_graph(), 0.05, 0.2)
    first, again = (cs.sample_cascade_sizes(loopy, 300, rng=7) for _ in range(2))
    np.testing.assert_array_equal(first, again)


def test_expected_sampling_tv_matches_simulation():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    draws = rng.multinomial(200, p, size=4000) / 200
    simulated = 0.5 * np.abs(draws - p).sum(1).mean()
    assert cs.expected_sampling_tv(p, 200) == pytest.approx(simulated, rel=0.03)
    assert cs.expected_sampling_tv(p, cs.trials_for_tv(p, 0.01)) <= 0.01
    # KS: the simulated expectation of a broad distribution approaches Kolmogorov's 0.8687 / sqrt(t)
    broad = np.full(400, 1 / 400)
    assert cs.expected_sampling_ks(broad, 2000) * np.sqrt(2000) == pytest.approx(0.8687, rel=0.1)
    assert cs.expected_sampling_ks(broad, cs.trials_for_ks(broad, 0.05)) <= 0.05


# ---------------------------------------------------------------------------------------------
# distances, reading distributions, vaccination


def test_distances():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    assert cs.total_variation(p, q) == pytest.approx(0.5)
    assert cs.ks_distance(p, q) == pytest.approx(0.5)
    assert cs.total_variation(p, p) == 0.0 and cs.ks_distance(q, q) == 0.0
    with pytest.raises(ValueError):
        cs.total_variation(p, q[:2])


def test_modes_valley_and_tail():
    bimodal = np.array([0.3, 0.1, 0.02, 0.08, 0.3, 0.2])
    bimodal = bimodal / bimodal.sum()
    assert cs.modes(bimodal).tolist() == [0, 4]
    assert cs.valley_ratio(bimodal) < 0.5
    assert cs.tail_probability(bimodal, 3) == pytest.approx(bimodal[4:].sum())
    assert cs.modes(np.array([0.1, 0.6, 0.3])).tolist() == [1]
    # coarsened: a spike and a broad bump are both peaks; the mean lies between them
    spike_and_bump = np.r_[0.5, np.zeros(79), np.full(20, 0.5 / 20)]  # mean 45
    assert cs.modes(spike_and_bump, bins=10).tolist()[0] == 0 and len(cs.modes(spike_and_bump, bins=10)) == 2
    assert cs.valley_ratio(spike_and_bump, bins=10) == 0.0
    assert cs.coarsen(spike_and_bump, 10)[0].sum() == pytest.approx(1.0)


def test_vaccinating_a_node_removes_it_and_what_only_it_reaches():
    model = cs.independent_cascade(nx.path_graph(4), [1, 0, 0, 0], 1.0)
    assert cs.mean_size(cs.tree_distribution(model)) == pytest.approx(4)
    assert cs.mean_size(cs.tree_distribution(cs.vaccinate(model, [2]))) == pytest.approx(2)
    choice = cs.vaccination_choice(model, threshold=1, n_candidates=4)
    assert choice.candidates[choice.by_mean] == 0  # the seed itself


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("p0, w", [(1.1, 0.5), (-0.1, 0.5), (np.nan, 0.5), (0.5, 1.5), (0.5, -1.0),
                                   (0.5, np.inf)])
def test_probabilities_outside_unit_interval_raise(p0, w):
    with pytest.raises(ValueError, match="p0|w"):
        cs.independent_cascade(nx.path_graph(3), p0, w)


def test_bad_graphs_and_arguments_raise():
    with pytest.raises(ValueError, match="no nodes"):
        cs.independent_cascade(nx.Graph(), 0.1, 0.1)
    with pytest.raises(ValueError, match="n >= 1 nodes"):
        cs.Cascade(np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    with pytest.raises(ValueError, match="self-loops"):
        cs.Cascade(np.full(2, 0.1), np.array([0]), np.array([0]), np.array([0.5]))
    with pytest.raises(ValueError, match="not a forest"):
        cs.tree_distribution(cs.independent_cascade(nx.cycle_graph(4), 0.1, 0.1))
    with pytest.raises(ValueError, match="shape"):
        cs.independent_cascade(nx.path_graph(3), [0.1, 0.2], 0.1)
    with pytest.raises(ValueError, match="trials"):
        cs.sample_cascade_sizes(cs.independent_cascade(nx.path_graph(3), 0.1, 0.1), 0)
    with pytest.raises(ValueError, match="max_bits"):
        cs.enumerate_distribution(cs.independent_cascade(nx.path_graph(12), 0.1, 0.5))
