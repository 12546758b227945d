"""How well an embedding keeps local densities, neighbourhoods and global structure (any embedding).

Following the measures of dtSNE's paper (Fischer, Burkholz & Vreeken, arXiv 2301.13732: global
reconstruction ρ, local distances ρ_kNN, relative densities ρ_r; exact definitions not recoverable,
ours are stated per function) plus two common ones:

* `radius_correlation` (ρ_r): Pearson correlation of the log kNN radii r_i (distance to the k-th
  neighbour) in data and embedding, so it scores how well ratios r_i/r_j, i.e. relative local
  densities, survive (scale-free);
* `local_distance_correlation` (ρ_kNN): Pearson correlation of ‖x_i − x_j‖ and ‖y_i − y_j‖ over the
  pairs (i, j) with j among i's k nearest neighbours in the data;
* `distance_correlation` (ρ): Pearson correlation of all pairwise distances (sampled pairs when n is
  large);
* `knn_recall`: mean fraction of each point's k data neighbours that are among its k embedding ones;
* `cluster_sizes` / `cluster_size_error`: per-cluster spread, and how far the relative cluster sizes
  of the embedding stray from those of the data (std of the log size ratios; 0 = all kept).

Inputs are arrays x (n, D) data and y (n, d) embedding; neighbours are exact (scikit-learn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = ["cluster_size_error", "cluster_sizes", "distance_correlation", "evaluate", "knn",
           "knn_recall", "local_distance_correlation", "local_radii", "radius_correlation"]


def _as_points(z: Any, name: str) -> np.ndarray:
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n >= 2, dim), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same points, got {x.shape[0]} and {y.shape[0]} rows")
    return x, y


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, n-1] = [1, {n - 1}], got {k!r}")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def knn(z: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every point, itself excluded: indices and distances (n, k)."""
    z = _as_points(z, "z")
    n = z.shape[0]
    _check_k(k, n)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    is_self = idx == np.arange(n)[:, None]
    no_self = ~is_self.any(1)  # duplicates can push a point out of its own list: drop the last one
    is_self[no_self, -1] = True
    keep = ~is_self
    return idx[keep].reshape(n, k), dist[keep].reshape(n, k)


def local_radii(z: Any, k: int = 15) -> np.ndarray:
    """r_i: distance from each point to its k-th nearest neighbour, (n,)."""
    return knn(z, k)[1][:, -1]


def radius_correlation(x: Any, y: Any, k: int = 15, log: bool = True) -> float:
    """ρ_r: Pearson correlation of (log) kNN radii between data x and embedding y."""
    x, y = _pair(x, y)
    rx, ry = local_radii(x, k), local_radii(y, k)
    if log:
        tiny = np.finfo(np.float64).tiny
        rx, ry = np.log(np.maximum(rx, tiny)), np.log(np.maximum(ry, tiny))
    return _pearson(rx, ry)


def local_distance_correlation(x: Any, y: Any, k: int = 15) -> float:
    """ρ_kNN: Pearson correlation of data and embedding distances over the data's kNN pairs."""
    x, y = _pair(x, y)
    idx, dx = knn(x, k)
    dy = np.linalg.norm(y[:, None, :] - y[idx], axis=-1)
    return _pearson(dx.ravel(), dy.ravel())


def distance_correlation(x: Any, y: Any, max_pairs: int = 500_000, seed: int = 0) -> float:
    """ρ: Pearson correlation of pairwise distances; all pairs up to `max_pairs`, else a uniform sample."""
    x, y = _pair(x, y)
    n = x.shape[0]
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, n, max_pairs), rng.integers(0, n - 1, max_pairs)
        j = j + (j >= i)  # a uniform j != i
    return _pearson(np.linalg.norm(x[i] - x[j], axis=1), np.linalg.norm(y[i] - y[j], axis=1))


def knn_recall(x: Any, y: Any, k: int = 15) -> float:
    """Mean fraction of each point's k nearest data neighbours kept among its k embedding neighbours."""
    x, y = _pair(x, y)
    ix, iy = knn(x, k)[0], knn(y, k)[0]
    return float((ix[:, :, None] == iy[:, None, :]).any(-1).mean())


def cluster_sizes(z: Any, labels: Any, kind: str = "gyration", k: int = 15) -> np.ndarray:
    """Per-cluster size, (n_clusters,) in the order of np.unique(labels).

    kind 'gyration': RMS distance to the cluster's centroid (its extent); 'knn': the mean kNN radius
    of its points (its local spacing, ∝ density^(−1/dim)).
    """
    z = _as_points(z, "z")
    labels = np.asarray(labels)
    if labels.shape != (z.shape[0],):
        raise ValueError(f"labels must have shape ({z.shape[0]},), got {labels.shape}")
    if kind not in ("gyration", "knn"):
        raise ValueError(f"kind must be 'gyration' or 'knn', got {kind!r}")
    uniq, inv = np.unique(labels, return_inverse=True)
    counts = np.bincount(inv).astype(float)
    if kind == "knn":
        return np.bincount(inv, weights=local_radii(z, k)) / counts
    centroid = np.stack([np.bincount(inv, weights=z[:, d]) for d in range(z.shape[1])], 1) / counts[:, None]
    sq = ((z - centroid[inv]) ** 2).sum(1)
    return np.sqrt(np.bincount(inv, weights=sq) / counts)


def cluster_size_error(x: Any, y: Any, labels: Any, kind: str = "gyration", k: int = 15) -> float:
    """Std over clusters of log(size in y / size in x): 0 when all relative cluster sizes are kept."""
    x, y = _pair(x, y)
    ratio = np.log(cluster_sizes(y, labels, kind, k)) - np.log(cluster_sizes(x, labels, kind, k))
    return float(ratio.std())


def evaluate(x: Any, y: Any, labels: Any = None, k: int = 15, max_pairs: int = 500_000,
             seed: int = 0) -> dict[str, float]:
    """All measures at once: rho_r, rho_knn, rho, knn_recall (and size_error with labels)."""
    x, y = _pair(x, y)
    out = {
        "rho_r": radius_correlation(x, y, k),
        "rho_knn": local_distance_correlation(x, y, k),
        "rho": distance_correlation(x, y, max_pairs, seed),
        "knn_recall": knn_recall(x, y, k),
    }
    if labels is not None:
        out["size_error"] = cluster_size_error(x, y, labels)
    return out
