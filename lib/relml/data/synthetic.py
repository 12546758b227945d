"""Synthetic generators with known ground truth."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class SparseRegression(NamedTuple):
    """y = X θ* + noise with a k-sparse θ*: X (n, d), y (n,), theta (d,)."""

    x: Tensor
    y: Tensor
    theta: Tensor


def sparse_regression(n: int, d: int, k: int, noise: float = 0.0, seed: int = 0) -> SparseRegression:
    """Gaussian design, k-sparse truth with ±1 entries on a random support (n < d: underdetermined)."""
    if not (n >= 1 and d >= 1 and 1 <= k <= d):
        raise ValueError(f"need n >= 1, d >= 1 and 1 <= k <= d, got n={n}, d={d}, k={k}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    theta = torch.zeros(d)
    support = torch.randperm(d, generator=g)[:k]
    theta[support] = torch.randint(0, 2, (k,), generator=g).float() * 2 - 1
    y = x @ theta + noise * torch.randn(n, generator=g)
    return SparseRegression(x, y, theta)


def gaussian_mixture(n: int, d: int, classes: int, separation: float = 3.0, seed: int = 0
                     ) -> tuple[Tensor, Tensor]:
    """n points from `classes` isotropic unit Gaussians whose means lie `separation` apart on average.

    Returns x (n, d) float32 and y (n,) int64, classes balanced up to one point.
    """
    if n < classes or classes < 2 or d < 1:
        raise ValueError(f"need n >= classes >= 2 and d >= 1, got n={n}, classes={classes}, d={d}")
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=g)
    means *= separation / (means.norm(dim=1, keepdim=True) * 2 ** 0.5)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    x = means[y] + torch.randn(n, d, generator=g)
    return x, y
