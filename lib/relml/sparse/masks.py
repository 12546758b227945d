"""Random (Erdős–Rényi) sparse masks and their layer-wise density ratios.

Gadhikar, Mukherjee & Burkholz, "Why Random Pruning Is All We Need to Start Sparse" (ICML 2023),
Sec. 4 and the official code (RelationalML/sparse_to_sparse: `STR/main.py`, `ER_DST/sparselearning/
core.py`). A network's masked layers l = 1..L (conv and linear weights, in forward order) have
n_l weights, N = Σ_l n_l. Given a global density p ∈ (0, 1], an allocator returns per-layer densities
p_l; `random_masks` then draws, per layer, an exact-k random mask with k_l = round(p_l n_l) ones (the
ER mask with a fixed edge count), and `MaskCallback` keeps the masked weights at zero during training.

Allocators (what they achieve is in each docstring; `allocated_density` gives the realised global
density Σ_l p_l n_l / N, `mask_density` that of drawn masks):

- uniform: p_l = p (exact);
- ERK: p_l = ε (Σ dims)/(Π dims); re-solved so that the global density is exact (RigL / ER_DST code) or
  clipped at 1 without re-solving (STR code, under-shoots);
- balanced: the same budget X = pN/L per layer, p_l = min(1, X/n_l) (STR code; under-shoots when a layer
  saturates, the unused budget is not handed on);
- pyramidal: p_l = r^l with r ∈ (0, 1) solving Σ_l n_l r^l = pN (exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor, nn

Shape = Sequence[int]
Shapes = Sequence[Shape]
Allocator = Callable[..., list[float]]


# ---------------------------------------------------------------------------------------------
# validation


def check_density(density: Any, name: str = "density") -> float:
    """`density` as a float in (0, 1]; ValueError saying what to pass otherwise."""
    ok = isinstance(density, (int, float, np.floating, np.integer)) and not isinstance(density, bool)
    if not ok or not (0.0 < float(density) <= 1.0):
        raise ValueError(f"{name}={density!r}: pass a density (fraction of weights kept) in (0, 1]; "
                         "for a sparsity s (fraction pruned) pass 1 - s")
    return float(density)


def check_shapes(shapes: Any) -> list[tuple[int, ...]]:
    """Weight shapes as tuples of positive ints (at least one layer, each at least 2-D)."""
    if isinstance(shapes, (torch.Size, tuple)) and shapes and isinstance(shapes[0], int):
        raise ValueError(f"shapes={shapes!r}: pass a list of weight shapes, e.g. [(128, 64), (10, 128)]")
    try:
        out = [tuple(int(d) for d in s) for s in shapes]
    except (TypeError, ValueError):
        raise ValueError(f"shapes={shapes!r}: pass a list of weight shapes, e.g. [(128, 64), (10, 128)]"
                         ) from None
    bad = [s for s in out if len(s) < 2 or min(s) < 1]
    if not out or bad:
        raise ValueError(f"shapes={shapes!r}: pass a non-empty list of weight shapes with >= 2 positive "
                         f"dimensions each (linear (out, in), conv (out, in, kh, kw)); bad: {bad}")
    return out


def _numels(shapes: Shapes) -> np.ndarray:
    return np.array([math.prod(s) for s in check_shapes(shapes)], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# layer-wise density allocators: (shapes, p) -> [p_1, ..., p_L]


def uniform_densities(shapes: Shapes, density: float) -> list[float]:
    """p_l = p for every layer; the global density is exactly p."""
    p = check_density(density)
    return [p] * len(check_shapes(shapes))


def erk_densities(shapes: Shapes, density: float, *, resolve: bool = True) -> list[float]:
    """Erdős–Rényi-kernel ratios p_l = ε · (Σ_i s_i)/(Π_i s_i) over weight shape s (Evci et al. 2020).

    For a linear layer (out, in) this is ε (out + in)/(out · in); for a conv (c_out, c_in, k_h, k_w)
    ε (c_out + c_in + k_h + k_w)/(c_out c_in k_h k_w). With `resolve=True` (RigL, the paper's ER_DST
    code) ε solves Σ_l p_l n_l = pN; any layer that would exceed 1 is made dense and ε is re-solved over
    the rest, so the global density is exactly p. With `resolve=False` (the paper's STR code) ε is
    solved once and p_l clipped to 1, so the realised density is below p when a layer saturates.
    """
    p = check_density(density)
    shapes = check_shapes(shapes)
    n = _numels(shapes)
    raw = np.array([sum(s) for s in shapes], dtype=np.float64) / n
    dense = np.zeros(len(n), dtype=bool)
    while True:
        budget = p * n.sum() - n[dense].sum()
        rest = (raw * n)[~dense].sum()
        eps = budget / rest if rest > 0 else 0.0
        dens = np.where(dense, 1.0, eps * raw)
        over = (dens > 1.0) & ~dense
        if not resolve or not over.any():
            break
        dense |= over  # saturate, then re-solve ε over the remaining layers
    return [float(d) for d in np.minimum(dens, 1.0)]


def balanced_densities(shapes: Shapes, density: float) -> list[float]:
    """Every layer gets the same number of weights X = pN/L: p_l = min(1, X/n_l) (paper, Sec. 4).

    A layer with n_l <= X is kept dense and its unused budget is not handed to the others (as in the
    paper's code), so the realised global density falls below p then; `allocated_density` reports it.
    """
    p = check_density(density)
    n = _numels(shapes)
    x = p * n.sum() / len(n)
    return [float(d) for d in np.minimum(1.0, x / n)]


def pyramidal_root(shapes: Shapes, density: float) -> float:
    """The r ∈ (0, 1] with Σ_l n_l r^l = pN (l = 1 for the first layer).

    f(r) = Σ_l n_l r^l - pN is strictly increasing on [0, 1] with f(0) = -pN < 0 and f(1) = (1-p)N >= 0,
    so the root exists and is unique for every p ∈ (0, 1] (r = 1 exactly when p = 1). The paper's code
    takes the real root in (0, 1) of the same polynomial from `np.roots`; we bracket it instead, which
    stays accurate for deep networks where the polynomial is ill-conditioned.
    """
    p = check_density(density)
    n = _numels(shapes)
    if p == 1.0:
        return 1.0
    powers = np.arange(1, len(n) + 1)
    target = p * n.sum()
    return float(brentq(lambda r: float((n * r**powers).sum() - target), 0.0, 1.0, xtol=1e-15,
                        rtol=4 * np.finfo(float).eps))


def pyramidal_densities(shapes: Shapes, density: float) -> list[float]:
    """p_l = r^l, r = `pyramidal_root` (paper, Sec. 4): density falls geometrically with depth.

    The global density is exactly p and no layer saturates (r <= 1). The note's fallback to balanced
    "if no root in (0, 1) exists" is never needed: the root always exists (see `pyramidal_root`); the
    paper's code defines no ratios only at p = 1, where we return the dense network.
    """
    r = pyramidal_root(shapes, density)
    return [float(r**depth) for depth in range(1, len(check_shapes(shapes)) + 1)]


ALLOCATORS: dict[str, Allocator] = {
    "uniform": uniform_densities,
    "erk": erk_densities,
    "balanced": balanced_densities,
    "pyramidal": pyramidal_densities,
}


def layer_densities(method: str, shapes: Shapes, density: float, **kwargs: Any) -> list[float]:
    """Per-layer densities of `method` ('uniform', 'erk', 'balanced', 'pyramidal', or 'dense')."""
    if method == "dense":
        check_shapes(shapes)
        return [1.0] * len(shapes)
    if method not in ALLOCATORS:
        raise ValueError(f"method={method!r}: pass one of 'dense', {', '.join(map(repr, ALLOCATORS))}")
    return ALLOCATORS[method](shapes, density, **kwargs)


def allocated_density(shapes: Shapes, densities: Sequence[float]) -> float:
    """The realised global density Σ_l p_l n_l / N of per-layer densities `densities`."""
    n = _numels(shapes)
    d = np.asarray(densities, dtype=np.float64)
    if d.shape != n.shape:
        raise ValueError(f"got {d.size} densities for {n.size} layers: pass one density per layer")
    for i, v in enumerate(d):
        check_density(float(v), f"densities[{i}]")
    return float((d * n).sum() / n.sum())


def density_table(shapes: Shapes, arms: Sequence[tuple[str, float]], **kwargs: Any) -> np.ndarray:
    """Per-layer densities of several (method, global density) arms: array (len(arms), L)."""
    return np.array([layer_densities(m, shapes, d, **kwargs) for m, d in arms], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# masks


def maskable_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights a mask applies to, in registration order: `model.prunable_weights()` if the model
    defines it, else every parameter with >= 2 dimensions whose name has no part starting with "bias"
    (linear/conv kernels, a stacked ensemble's (R, in, out) weights); biases (also stacked (R, out) ones)
    and norm parameters stay dense."""
    if hasattr(model, "prunable_weights"):
        return list(model.prunable_weights())
    weights = [p for name, p in model.named_parameters()
               if p.ndim >= 2 and not any(part.startswith("bias") for part in name.split("."))]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no parameter with >= 2 dimensions to mask")
    return weights


def _exact_k(rows: int, n: int, k: Tensor, generator: torch.Generator | None, device: Any) -> Tensor:
    """`rows` independent 0/1 rows of length n with exactly k[i] ones at uniformly random places."""
    order = torch.rand(rows, n, generator=generator).argsort(dim=1)  # a uniform random permutation per row
    keep = (torch.arange(n) < k[:, None]).float()  # the first k_r places of row r's permutation
    return torch.zeros(rows, n).scatter_(1, order, keep).to(device)


def random_masks(target: Shapes | nn.Module, densities: Sequence[Any],
                 generator: torch.Generator | None = None, *, min_keep: int = 1) -> list[Tensor]:
    """Exact-k Erdős–Rényi masks: layer l keeps k_l = max(min_keep, round(p_l n_l)) weights, chosen
    uniformly at random without replacement (the paper's random pruning).

    target: weight shapes, or a model (its `maskable_weights`). densities: one entry per layer, a
    float p_l, or a vector (R,) for a stacked weight of shape (R, *s): then each of the R slices gets
    its own mask with density p_l[r] (one mask per ensemble member). Returns float 0/1 masks with the
    weights' shapes (on the weights' device when a model is given). `min_keep` keeps a layer from being
    cut off entirely at tiny densities.
    """
    if isinstance(target, nn.Module):
        weights = maskable_weights(target)
        shapes, device = [tuple(w.shape) for w in weights], weights[0].device
    else:
        shapes, device = check_shapes(target), torch.device("cpu")
    if len(densities) != len(shapes):
        raise ValueError(f"got {len(densities)} densities for {len(shapes)} layers: pass one per layer")
    masks = []
    for i, (shape, dens) in enumerate(zip(shapes, densities, strict=True)):
        stacked = np.ndim(dens) == 1
        if np.ndim(dens) == 0:
            d = np.array([check_density(dens, f"densities[{i}]")])
        elif stacked:
            d = np.array([check_density(v, f"densities[{i}]") for v in np.asarray(dens).tolist()])
        else:
            raise ValueError(f"densities[{i}] must be a number or a 1-D vector, got shape {np.shape(dens)}")
        if stacked and shape[0] != d.size:
            raise ValueError(f"densities[{i}] has {d.size} entries but the weight's leading dimension is "
                             f"{shape[0]}: pass one density per slice (ensemble member)")
        rows = d.size if stacked else 1
        n = math.prod(shape) // rows
        k = torch.from_numpy(np.clip(np.rint(d * n), min(min_keep, n), n).astype(np.int64))
        masks.append(_exact_k(rows, n, k, generator, device).reshape(shape))
    return masks


def mask_density(masks: Sequence[Tensor]) -> float:
    """Global density of masks: kept weights / all weights."""
    kept = sum(float(m.sum()) for m in masks)
    return kept / sum(m.numel() for m in masks)


class MaskCallback:
    """Keep `weights` inside fixed 0/1 `masks` during training: a callback for `relml.train.fit`.

    On construction the weights are masked and a hook zeroes the pruned entries of each weight's
    gradient, in place, once backward has accumulated it (so optimizer state such as Adam's moments
    never builds up on pruned weights); `on_step_end` re-applies the masks after every optimizer step
    (weight decay or momentum could otherwise revive them).
    `remove()` detaches the hooks. The callback keeps the given mask tensors (no copy when they already
    have the weights' device and dtype), so a pruning loop may edit them in place later.
    """

    def __init__(self, weights: Sequence[nn.Parameter] | nn.Module, masks: Sequence[Tensor]) -> None:
        params = maskable_weights(weights) if isinstance(weights, nn.Module) else list(weights)
        if len(params) != len(masks):
            raise ValueError(f"got {len(masks)} masks for {len(params)} weights: pass one mask per weight")
        for i, (w, m) in enumerate(zip(params, masks, strict=True)):
            if tuple(w.shape) != tuple(m.shape):
                raise ValueError(f"mask {i} has shape {tuple(m.shape)} but its weight {tuple(w.shape)}: "
                                 "pass masks with the weights' shapes")
        self.weights = params
        self.masks = [m.detach().to(device=w.device, dtype=w.dtype)
                      for w, m in zip(params, masks, strict=True)]
        self._hooks = [w.register_post_accumulate_grad_hook(self._grad_hook(i)) for i, w in enumerate(params)]
        self.apply()

    def _grad_hook(self, i: int) -> Callable[[Tensor], None]:
        def hook(weight: Tensor) -> None:
            if weight.grad is not None:
                weight.grad.mul_(self.masks[i])
        return hook

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights: w ← w ⊙ m."""
        for w, m in zip(self.weights, self.masks, strict=True):
            w.mul_(m)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        self.apply()

    def density(self) -> float:
        """Global density of the masks."""
        return mask_density(self.masks)

    def remove(self) -> None:
        """Detach the gradient hooks (the weights keep their current values)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def state_dict(self) -> dict[str, list[Tensor]]:
        return {"masks": [m.clone() for m in self.masks]}

    def load_state_dict(self, state: dict[str, list[Tensor]]) -> None:
        for m, saved in zip(self.masks, state["masks"], strict=True):
            m.copy_(saved)
