"""Data for the density-preservation experiments: Gaussian clusters of set spread and size, and the
single-cell and digit sets that ship with installed packages (no download).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Labelled(NamedTuple):
    """x (n, d) float64 data, labels (n,) int64 cluster/cell-type ids, names (k,) of the labels."""

    x: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]


def gaussian_clusters(sizes: tuple[int, ...] | list[int], stds: tuple[float, ...] | list[float],
                      dim: int = 10, separation: float = 3.0, seed: int = 0) -> Labelled:
    """Isotropic Gaussian clusters, cluster c with `sizes[c]` points and standard deviation `stds[c]`.

    Any two centres are `separation` RMS diameters of the widest cluster apart (2·separation·max(stds)·√dim):
    on scaled basis vectors when there are at most `dim` clusters, on a regular polygon in 2-D, else
    on random directions (then only approximately). So the clusters differ only in spread and sample
    size (paper Figs. 1-2: different densities, and different sample sizes at equal density).
    """
    sizes, stds = list(sizes), list(stds)
    if len(sizes) != len(stds) or len(sizes) < 1:
        raise ValueError(f"pass one size per std, got {len(sizes)} sizes and {len(stds)} stds")
    if any(int(s) != s or s < 1 for s in sizes) or any(not s > 0 for s in stds):
        raise ValueError(f"sizes must be positive integers and stds positive, got {sizes}, {stds}")
    if dim < 1 or not separation > 0:
        raise ValueError(f"need dim >= 1 and separation > 0, got dim={dim}, separation={separation}")
    rng = np.random.default_rng(seed)
    k = len(sizes)
    gap = 2.0 * separation * max(stds) * np.sqrt(dim)  # distance between any two centres
    if k <= dim:
        centres = np.eye(dim)[:k] * gap / np.sqrt(2.0)
    elif dim == 2:
        angles = 2 * np.pi * np.arange(k) / k
        centres = np.stack([np.cos(angles), np.sin(angles)], 1) * gap / (2 * np.sin(np.pi / k))
    else:
        directions = rng.standard_normal((k, dim))
        centres = directions / np.linalg.norm(directions, axis=1, keepdims=True) * gap / np.sqrt(2.0)
    labels = np.repeat(np.arange(k), sizes)
    x = centres[labels] + rng.standard_normal((labels.size, dim)) * np.asarray(stds)[labels, None]
    names = tuple(f"σ={s:g}, n={m}" for s, m in zip(stds, sizes, strict=True))
    return Labelled(x, labels.astype(np.int64), names)


def density_benchmark(n: int, dim: int = 10, seed: int = 0) -> Labelled:
    """The benchmark's synthetic set: five clusters, spreads 1…8 (log-spaced), sizes ∝ 5:4:3:2:1.

    Dense clusters hold the most points, so both density and sample size vary across clusters.
    """
    if n < 15:
        raise ValueError(f"n must be at least 15 (three points per cluster), got {n}")
    weights = np.array([5, 4, 3, 2, 1], dtype=float)
    sizes = np.floor(n * weights / weights.sum()).astype(int)
    sizes[0] += n - sizes.sum()
    stds = np.geomspace(1.0, 8.0, 5)
    return gaussian_clusters(tuple(int(s) for s in sizes), tuple(float(s) for s in stds), dim=dim,
                             seed=seed)


def pbmc68k_reduced() -> Labelled:
    """scanpy's bundled `pbmc68k_reduced`: 700 cells, their 50 principal components, 10 bulk labels.

    Read with anndata from scanpy's package folder (no download, no scanpy import).
    """
    import anndata

    spec = importlib.util.find_spec("scanpy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pbmc68k_reduced needs scanpy installed (pip install scanpy)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "10x_pbmc68k_reduced.h5ad"
    with warnings.catch_warnings():  # the file predates anndata's current format; it is converted on read
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path)
    cats = adata.obs["bulk_labels"].astype("category")
    return Labelled(np.asarray(adata.obsm["X_pca"], dtype=np.float64),
                    cats.cat.codes.to_numpy().astype(np.int64), tuple(map(str, cats.cat.categories)))


def digits() -> Labelled:
    """scikit-learn's 8×8 digits: 1797 images as 64 pixel intensities in [0, 16], 10 classes."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return Labelled(x.astype(np.float64), y.astype(np.int64), tuple(str(i) for i in range(10)))
