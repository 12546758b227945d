"""The dtSNE notebook's experiments: embed one data set with several methods, score and draw them."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from relml.embed import baselines, metrics
from relml.embed.dtsne import DTSNE

__all__ = ["METHODS", "benchmark_table", "compare", "embed", "plot_embeddings", "size_ratios"]

METHODS = {"dtsne": "dtSNE", "tsne": "t-SNE", "umap": "UMAP", "densmap": "densMAP"}


def embed(x: np.ndarray, method: str, *, perplexity: float = 30.0, density_weight: float = 1.0,
          early_iter: int = 250, n_iter: int = 500, seed: int = 0, device: Any = "cpu",
          cache: dict | None = None) -> np.ndarray:
    """x (n, D) → (n, 2) with 'dtsne', 'tsne' (openTSNE, same kNN, init and schedule), 'umap' or
    'densmap' (umap-learn defaults; perplexity and iterations do not apply). Results are memoised
    in `cache` (a dict the caller owns) under the data's hash and the arguments."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    key = (hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).hexdigest(), method,
           perplexity, density_weight if method == "dtsne" else None, early_iter, n_iter, seed,
           str(device))
    if cache is not None and key in cache:
        return cache[key]
    if method == "dtsne":
        y = DTSNE(perplexity=perplexity, density_weight=density_weight, early_exaggeration_iter=early_iter,
                  n_iter=n_iter, random_state=seed, device=str(device)).fit(x).embedding_
    elif method == "tsne":
        y = baselines.tsne(x, perplexity, early_exaggeration_iter=early_iter, n_iter=n_iter,
                           random_state=seed)
    else:
        y = baselines.umap(x, densmap=method == "densmap", random_state=seed)
    if cache is not None:
        cache[key] = y
    return y


def compare(x: np.ndarray, labels: np.ndarray, methods: Iterable[str], k: int = 15,
            **embed_args: Any) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Embed x with each method; return the embeddings and a table of `metrics.evaluate` scores
    (rows: methods, columns: rho_r, rho_knn, rho, knn_recall, size_error, seconds)."""
    out, rows = {}, {}
    for method in methods:
        start = time.perf_counter()
        out[method] = embed(x, method, **embed_args)
        seconds = time.perf_counter() - start
        rows[METHODS[method]] = {**metrics.evaluate(x, out[method], labels, k=k), "seconds": seconds}
    return out, pd.DataFrame.from_dict(rows, orient="index")


def size_ratios(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each cluster's spread (RMS distance to its centroid) relative to cluster 0's, (k,)."""
    sizes = metrics.cluster_sizes(z, labels)
    return sizes / sizes[0]


def plot_embeddings(panels: dict[str, np.ndarray], labels: np.ndarray, names: Sequence[str] | None = None,
                    ncols: int | None = None, size: float = 2.6) -> plt.Figure:
    """One scatter panel per entry of `panels` (title → (n, 2) points), coloured by label."""
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    uniq = np.unique(labels)
    colors = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20")(np.linspace(0, 1, 10 if len(uniq) <= 10
                                                                               else 20)[: len(uniq)])
    for ax, (title, z) in zip(axes.flat, panels.items(), strict=False):
        for c, col in zip(uniq, colors, strict=True):
            pts = z[labels == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, color=col, label=names[c] if names is not None else str(c),
                       rasterized=True)
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if names is not None:  # beside the last panel, clear of the points
        axes.flat[len(panels) - 1].legend(markerscale=3, fontsize=6, loc="center left",
                                          bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def benchmark_table(path: str | Path, measure: str = "rho_r") -> pd.DataFrame | None:
    """One measure of `benchmarks/embed.py`'s results (rows: data sets, columns: methods), or None if
    the benchmark has not been run (no file at `path`)."""
    path = Path(path)
    if not path.exists():
        return None
    records = json.loads(path.read_text())["records"]
    table = pd.DataFrame(records).pivot(index="data", columns="method", values=measure)
    return table[[m for m in METHODS if m in table.columns]].rename(columns=METHODS)
