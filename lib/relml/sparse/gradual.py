r"""Gradual magnitude pruning (Zhu & Gupta 2017) and sign-flip counting, as `relml.train.fit` callbacks.

Zhu & Gupta, "To prune, or not to prune" (arXiv 1710.01878), eq. 1: from step t_0 the sparsity rises
every Δt steps along the cubic

.. math::  s_t = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{n\,\Delta t}\Big)^3,\qquad
           t \in \{t_0, t_0 + \Delta t, \dots, t_0 + n\Delta t\},

fast at first and slowly near the end, and at each of these steps the weights of smallest magnitude are
masked, globally across layers or per layer. Between pruning steps the mask stays fixed: a
`relml.sparse.MaskCallback` zeroes the pruned weights' gradients and re-applies the mask after every
optimizer step. Weights already pruned are zero, hence the smallest, so masks only ever shrink.

Stacked ensembles (weights (R, ...), one member per leading index, e.g. `relml.models.EnsembleMLP`) are
pruned per member with `stacked=True`: each member gets its own ranking and exactly its own count.

`SignFlipCounter` counts, after every optimizer step, the weights whose nonzero sign differs from their
nonzero sign after the previous step (HAM's "sign learning": Jacobs et al., ICLR 2026, Sec. 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from relml.sparse.masks import MaskCallback, maskable_weights
from relml.sparse.metrics import density_of

__all__ = ["GradualMagnitudePruning", "SignFlipCounter", "cubic_sparsity", "magnitude_masks"]

SCOPES = ("global", "layer")


def _check_sparsity(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r}: pass a sparsity (fraction of weights pruned) in [0, 1)")
    return float(value)


def _check_sparsities(value: Any, name: str) -> float | list[float]:
    """A sparsity, or (for stacked members) a list of one sparsity per member."""
    if isinstance(value, (list, tuple, Tensor)) or np.ndim(value) == 1:
        values = [float(v) for v in (value.tolist() if isinstance(value, Tensor) else value)]
        if not values:
            raise ValueError(f"{name} is empty: pass one sparsity per member")
        return [_check_sparsity(v, f"{name}[{i}]") for i, v in enumerate(values)]
    return _check_sparsity(value, name)


def cubic_sparsity(step: int, final: float, start: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's s_t: `initial` before `start`, the cubic ramp up to `final` at `end`, then `final`."""
    final, initial = _check_sparsity(final, "final"), _check_sparsity(initial, "initial")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
        raise ValueError(f"start={start!r}, end={end!r}: pass integer steps with 0 <= start <= end")
    if step <= start:
        return initial if step < start or end > start else final
    if step >= end:
        return final
    return final + (initial - final) * (1.0 - (step - start) / (end - start)) ** 3


def _rows(weights: Sequence[Tensor], stacked: bool) -> list[Tensor]:
    """|w| flattened to (R, n_l): R members when stacked, else R = 1."""
    if stacked:
        members = {w.shape[0] for w in weights}
        if len(members) != 1:
            raise ValueError(f"stacked weights must share their leading (member) dimension, got {members}")
        return [w.detach().abs().reshape(w.shape[0], -1) for w in weights]
    return [w.detach().abs().reshape(1, -1) for w in weights]


def _keep_largest(scores: Tensor, sparsity: float | Sequence[float]) -> Tensor:
    """0/1 rows (R, n) keeping the n − round(s_r n) largest entries of row r (exact counts); `sparsity`
    is one number or one per row."""
    rows, n = scores.shape
    s = torch.as_tensor(sparsity, dtype=torch.float64).expand(rows)
    prune = torch.round(s * n).clamp(max=n).long().to(scores.device)
    order = scores.argsort(dim=1, stable=True)  # ascending: zeros (already pruned) come first
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=scores.device).expand(rows, n))
    return (rank >= prune[:, None]).to(scores.dtype)


@torch.no_grad()
def magnitude_masks(weights: Sequence[Tensor], sparsity: float | Sequence[float], scope: str = "global",
                    stacked: bool = False) -> list[Tensor]:
    """0/1 masks (the weights' shapes and dtype) pruning the fraction `sparsity` of smallest |w|.

    scope "global" ranks all weights of a network (of each member, if `stacked`) together, "layer"
    prunes each layer to `sparsity`. Counts are exact: round(s · n) pruned per ranking. With `stacked`
    weights (R, ...), `sparsity` may be a list of R sparsities, one per member.
    """
    sparsity = _check_sparsities(sparsity, "sparsity")
    if isinstance(sparsity, list) and not stacked:
        raise ValueError("one sparsity per member needs stacked=True (weights with a leading member axis)")
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r}: pass 'global' or 'layer'")
    weights = list(weights)
    if not weights:
        raise ValueError("pass at least one weight tensor")
    rows = _rows(weights, stacked)
    if isinstance(sparsity, list) and len(sparsity) != rows[0].shape[0]:
        raise ValueError(f"got {len(sparsity)} sparsities for {rows[0].shape[0]} members: "
                         "pass one per member")
    if scope == "layer":
        keep = [_keep_largest(r, sparsity) for r in rows]
    else:
        sizes = [r.shape[1] for r in rows]
        keep = list(_keep_largest(torch.cat(rows, dim=1), sparsity).split(sizes, dim=1))
    return [k.reshape(w.shape).to(w.dtype) for k, w in zip(keep, weights, strict=True)]


class GradualMagnitudePruning:
    """Prune `weights` to `final_sparsity` along Zhu & Gupta's cubic (module docstring); a fit callback.

    weights: a model (its `prunable_weights()` if defined, else `relml.sparse.maskable_weights`) or a
    list of weights. Pruning happens at steps start, start + every, ... up to end (optimizer steps
    counted by `relml.train.fit` from 1). With `stacked` weights, `final_sparsity` may list one target
    per member (each member follows its own cubic). `mask` is the internal `MaskCallback` (its masks are
    edited in place). `history` lists (step, realised sparsity) after each pruning.
    """

    def __init__(self, weights: nn.Module | Sequence[nn.Parameter], final_sparsity: float | Sequence[float],
                 start: int,
                 end: int, every: int = 1, initial_sparsity: float = 0.0, scope: str = "global",
                 stacked: bool = False) -> None:
        params = maskable_weights(weights) if isinstance(weights, nn.Module) else list(weights)
        self.final = _check_sparsities(final_sparsity, "final_sparsity")
        if isinstance(self.final, list) and not stacked:
            raise ValueError("one final sparsity per member needs stacked=True")
        self.initial = _check_sparsity(initial_sparsity, "initial_sparsity")
        cubic_sparsity(start, 0.0, start, end, self.initial)  # validates start/end
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every={every!r}: pass the pruning interval in steps, an integer >= 1")
        if scope not in SCOPES:
            raise ValueError(f"scope={scope!r}: pass 'global' or 'layer'")
        self.start, self.end, self.every, self.scope, self.stacked = start, end, every, scope, stacked
        self.mask = MaskCallback(params, [torch.ones_like(w) for w in params])
        self.history: list[tuple[int, float]] = []
        if start == 0:
            self.prune(0)

    @property
    def weights(self) -> list[nn.Parameter]:
        return self.mask.weights

    def target(self, step: int) -> float | list[float]:
        """The scheduled sparsity at `step` (one per member if the targets differ)."""
        if isinstance(self.final, list):
            return [cubic_sparsity(step, f, self.start, self.end, self.initial) for f in self.final]
        return cubic_sparsity(step, self.final, self.start, self.end, self.initial)

    @torch.no_grad()
    def prune(self, step: int) -> None:
        """Mask the smallest weights down to the sparsity of `step` (masks only shrink)."""
        new = magnitude_masks(self.weights, self.target(step), self.scope, self.stacked)
        for old, m in zip(self.mask.masks, new, strict=True):
            old.mul_(m)
        self.mask.apply()
        self.history.append((step, self.sparsity))

    @property
    def sparsity(self) -> float:
        """The realised sparsity of the current masks (over all members)."""
        return 1.0 - self.mask.density()

    def member_sparsity(self) -> Tensor:
        """The realised sparsity of each member's masks (stacked weights): (R,)."""
        return (1.0 - density_of(self.mask.masks, stacked=True)).to(self.mask.masks[0].dtype)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        if self.start <= step <= self.end and (step - self.start) % self.every == 0:
            self.prune(step)
        else:
            self.mask.apply()

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        return {"sparsity": self.sparsity}

    def remove(self) -> None:
        self.mask.remove()

    def state_dict(self) -> dict[str, Any]:
        return {**self.mask.state_dict(), "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mask.load_state_dict(state)
        self.history = list(state.get("history", []))
        self.mask.apply()


class SignFlipCounter:
    """Count sign flips of `weights` after every optimizer step; a fit callback.

    A flip is a weight whose sign after this step is the opposite of its sign after the previous step,
    both nonzero (pruning a weight to 0 is no flip). `per_step` holds one tensor per step: the flips of
    each member (R,) for stacked weights (leading member dimension), else a 1-element tensor; counting
    stops after step `until` if given (early flips are cheap to watch, all of training less so).
    `on_epoch_end` adds {"sign_flips": mean over members of the epoch's flips}.
    """

    def __init__(self, weights: nn.Module | Sequence[nn.Parameter], stacked: bool = False,
                 until: int | None = None) -> None:
        if until is not None and not (isinstance(until, int) and until >= 0):
            raise ValueError(f"until={until!r}: pass the last step to count (an integer >= 0) or None")
        params = maskable_weights(weights) if isinstance(weights, nn.Module) else list(weights)
        if not params:
            raise ValueError("pass at least one weight to watch")
        self.weights, self.stacked, self.until = params, stacked, until
        self._signs = self._now()
        self._initial = [s.clone() for s in self._signs]
        self.per_step: list[Tensor] = []
        self._epoch_start = 0

    @torch.no_grad()
    def _now(self) -> list[Tensor]:
        return [torch.sign(w.detach()) for w in self.weights]

    @torch.no_grad()
    def on_step_end(self, model: nn.Module, step: int) -> None:
        if self.until is not None and step > self.until:
            return
        now = self._now()
        total = None
        for old, new in zip(self._signs, now, strict=True):
            # sign products are -1 for a flip, +1 for a kept sign, 0 where either is zero
            prod = old.mul_(new).clamp_max_(0.0)
            rows = prod.reshape(prod.shape[0], -1) if self.stacked else prod.reshape(1, -1)
            count = rows.sum(1).neg_()
            total = count if total is None else total + count
        self.per_step.append(total)
        self._signs = now

    @torch.no_grad()
    def flipped_since_start(self) -> Tensor:
        """Weights whose current nonzero sign is the opposite of their nonzero sign at construction
        (net sign changes, not counting back-and-forth): (R,) for stacked weights, else (1,)."""
        total = None
        for first, w in zip(self._initial, self.weights, strict=True):
            prod = (first * torch.sign(w.detach())).clamp_max_(0.0)
            rows = prod.reshape(prod.shape[0], -1) if self.stacked else prod.reshape(1, -1)
            count = rows.sum(1).neg_()
            total = count if total is None else total + count
        return total

    def counts(self) -> Tensor:
        """Flips per step and member: (steps, R), float counts."""
        if not self.per_step:
            return torch.zeros(0, 1)
        return torch.stack(self.per_step)

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        recent = self.counts()[self._epoch_start:]
        self._epoch_start = len(self.per_step)
        return {"sign_flips": float(recent.sum(0).mean())}
