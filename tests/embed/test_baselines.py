"""The baselines run the way the notebook and the benchmark use them."""

import numpy as np
import pytest

from relml.embed.baselines import tsne, umap
from relml.embed.datasets import gaussian_clusters


def test_tsne_baseline_is_deterministic_and_separates_clusters():
    data = gaussian_clusters((40, 40), (1.0, 1.0), dim=3, seed=0)
    y = tsne(data.x, perplexity=8, early_exaggeration_iter=50, n_iter=100, random_state=0)
    assert y.shape == (80, 2)
    np.testing.assert_array_equal(y, tsne(data.x, perplexity=8, early_exaggeration_iter=50, n_iter=100))
    centres = [y[data.labels == c].mean(0) for c in (0, 1)]
    spread = max(y[data.labels == c].std(0).max() for c in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 3 * spread


def test_baselines_reject_bad_input_before_any_work():
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="perplexity"):
        tsne(x, perplexity=30)
    with pytest.raises(ValueError, match="n_neighbors"):
        umap(x, n_neighbors=50)
