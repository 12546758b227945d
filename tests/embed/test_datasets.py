"""The experiment data: clusters with the spreads and sizes asked for, and the bundled sets."""

import numpy as np
import pytest

from relml.embed.datasets import density_benchmark, digits, gaussian_clusters, pbmc68k_reduced


def test_gaussian_clusters_have_the_asked_sizes_and_spreads():
    data = gaussian_clusters((300, 100), (1.0, 5.0), dim=4, seed=0)
    assert data.x.shape == (400, 4) and np.bincount(data.labels).tolist() == [300, 100]
    stds = [data.x[data.labels == c].std(0).mean() for c in (0, 1)]
    assert stds == pytest.approx([1.0, 5.0], rel=0.15)
    np.testing.assert_array_equal(data.x, gaussian_clusters((300, 100), (1.0, 5.0), dim=4, seed=0).x)
    with pytest.raises(ValueError, match="one size per std"):
        gaussian_clusters((10, 10), (1.0,))
    with pytest.raises(ValueError, match="positive"):
        gaussian_clusters((10, 0), (1.0, 1.0))


def test_benchmark_set_sums_to_n_with_dense_clusters_largest():
    data = density_benchmark(1003)
    counts = np.bincount(data.labels)
    assert counts.sum() == 1003 and (np.diff(counts) < 0).all()


def test_bundled_sets_load_without_download():
    pbmc, dig = pbmc68k_reduced(), digits()
    assert pbmc.x.shape == (700, 50) and len(pbmc.names) == 10 and np.isfinite(pbmc.x).all()
    assert dig.x.shape == (1797, 64) and set(dig.labels) == set(range(10))
