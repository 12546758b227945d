"""The notebook's experiment helpers: memoised embeddings, the score table, the panels."""

import numpy as np
import pytest

from relml.embed.datasets import gaussian_clusters
from relml.embed.experiments import compare, embed, plot_embeddings, size_ratios


def test_compare_scores_every_method_and_memoises():
    data = gaussian_clusters((40, 40), (1.0, 3.0), dim=2, seed=0)
    cache = {}
    kw = dict(perplexity=8, early_iter=30, n_iter=60, seed=0, cache=cache)
    embs, table = compare(data.x, data.labels, ["tsne", "dtsne"], **kw)
    assert list(table.index) == ["t-SNE", "dtSNE"]
    assert {"rho_r", "knn_recall", "seconds"} <= set(table.columns)
    assert len(cache) == 2 and embed(data.x, "dtsne", **kw) is embs["dtsne"]
    assert size_ratios(data.x, data.labels)[1] == pytest.approx(3.0, rel=0.25)
    fig = plot_embeddings({"data": data.x, **embs}, data.labels, names=data.names)
    assert len([ax for ax in fig.axes if ax.collections]) == 3
    with pytest.raises(ValueError, match="method"):
        embed(data.x, "pca")
    assert np.isfinite(table.to_numpy()).all()
