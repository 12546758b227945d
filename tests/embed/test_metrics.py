"""Density, neighbourhood and global measures: exact on isometries, and known values on toy sets."""

import numpy as np
import pytest

from relml.embed import metrics as M


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (80, 2)), rng.normal(10, 3, (80, 2))])
    return x, np.repeat([0, 1], 80)


def test_a_similarity_transform_keeps_every_measure_perfect(data):
    x, labels = data
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    y = 3.5 * x @ rot + 2.0
    scores = M.evaluate(x, y, labels, k=10)
    for name in ("rho_r", "rho_knn", "rho", "knn_recall"):
        assert scores[name] == pytest.approx(1.0, abs=1e-12), name
    assert scores["size_error"] == pytest.approx(0.0, abs=1e-12)


def test_radii_on_a_line_and_what_flattening_densities_does(data):
    line = np.arange(10.0)[:, None] * np.array([[1.0, 0.0]])
    np.testing.assert_allclose(M.local_radii(line, 2), [2, 1, 1, 1, 1, 1, 1, 1, 1, 2])
    x, labels = data
    flat = x.copy()
    flat[labels == 1] = (x[labels == 1] - 10) / 3 + 10  # same shape, equalised spread
    assert M.radius_correlation(x, flat) < 0.7 < 0.99 < M.radius_correlation(x, x)
    sizes = M.cluster_sizes(x, labels)
    assert sizes[1] / sizes[0] == pytest.approx(3.0, rel=0.2)
    assert M.cluster_size_error(x, flat, labels) == pytest.approx(np.log(3.0) / 2)  # one cluster 3x smaller


def test_recall_of_a_shuffled_embedding_is_near_chance(data):
    x, _ = data
    y = x[np.random.default_rng(1).permutation(len(x))]
    assert M.knn_recall(x, y, k=10) < 0.2
    assert M.knn_recall(x, x, k=10) == 1.0


def test_sampled_distance_correlation_matches_all_pairs(data):
    x, _ = data
    y = np.sqrt(np.abs(x))
    full = M.distance_correlation(x, y)
    assert M.distance_correlation(x, y, max_pairs=5000, seed=3) == pytest.approx(full, abs=0.03)


def test_duplicates_do_not_break_the_neighbour_lists():
    z = np.zeros((5, 2))
    idx, dist = M.knn(z, 2)
    assert (idx != np.arange(5)[:, None]).all() and (dist == 0).all()


def test_bad_input_raises_value_errors(data):
    x, labels = data
    with pytest.raises(ValueError, match="same points"):
        M.evaluate(x, x[:-1])
    with pytest.raises(ValueError, match="k must be"):
        M.radius_correlation(x, x, k=len(x))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.knn_recall(bad, x)
    with pytest.raises(ValueError, match="labels"):
        M.cluster_sizes(x, labels[:-1])
