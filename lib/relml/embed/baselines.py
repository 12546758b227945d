"""The methods dtSNE is measured against, run the same way everywhere (notebook and benchmark).

* `tsne`: openTSNE's t-SNE with the same kNN index, PCA initialisation and optimisation schedule
  as `relml.embed.dtsne.DTSNE`, so only the kernel (and dtSNE's pair precisions) differ;
* `umap`: umap-learn's UMAP, and with `densmap=True` densMAP (Narayan, Berger & Cho 2021) at its
  default density weight λ = 2.
"""

from __future__ import annotations

import warnings

import numpy as np
from openTSNE import TSNE, initialization
from openTSNE.affinity import PerplexityBasedNN

from relml.embed.dtsne import check_data, check_perplexity, knn_index

__all__ = ["tsne", "umap"]


def tsne(x: np.ndarray, perplexity: float = 30.0, *, early_exaggeration_iter: int = 250, n_iter: int = 500,
         knn_method: str = "auto", n_jobs: int = 1, random_state: int = 0) -> np.ndarray:
    """openTSNE t-SNE of x (n, D) → (n, 2), BH below 10k points and FFT above (openTSNE's 'auto')."""
    x = check_data(x)
    k = check_perplexity(perplexity, x.shape[0])
    aff = PerplexityBasedNN(perplexity=perplexity, n_jobs=n_jobs,
                            knn_index=knn_index(x, k, knn_method, n_jobs, random_state))
    init = initialization.pca(x, n_components=2, random_state=random_state)
    model = TSNE(perplexity=perplexity, early_exaggeration_iter=early_exaggeration_iter, n_iter=n_iter,
                 n_jobs=n_jobs, random_state=random_state)
    return np.asarray(model.fit(affinities=aff, initialization=init)).copy()


def umap(x: np.ndarray, *, densmap: bool = False, n_neighbors: int = 15, n_jobs: int = 1,
         random_state: int = 0) -> np.ndarray:
    """umap-learn UMAP (or densMAP) of x (n, D) → (n, 2), at the library's defaults."""
    x = check_data(x)
    if not 2 <= n_neighbors <= x.shape[0] - 1:
        raise ValueError(f"n_neighbors must be in [2, n-1] = [2, {x.shape[0] - 1}], got {n_neighbors}")
    import umap as umap_learn  # imported here: numba compiles UMAP on first use (seconds)

    with warnings.catch_warnings():  # "n_jobs overridden by random_state": we want determinism
        warnings.simplefilter("ignore", UserWarning)
        model = umap_learn.UMAP(n_neighbors=n_neighbors, densmap=densmap, random_state=random_state,
                                n_jobs=n_jobs)
        return np.asarray(model.fit_transform(x), dtype=np.float64)
