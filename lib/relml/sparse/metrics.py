"""Comparing sparse masks and the signs of the weights they keep.

What iterative pruning papers measure about their masks (Gadhikar & Burkholz, "Masks, Signs, and
Learning Rate Rewinding", ICLR 2024, Sec. 3): the density of every layer, how much two masks overlap,
and how many surviving weights carry a sign different from a reference (the initialisation, or the
previous pruning round). Masks and weights come as lists with one tensor per layer; `stacked=True` treats
the leading dimension as ensemble members (`relml.models.EnsembleMLP`) and returns one value per member.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["density_of", "layer_densities_of", "mask_overlap", "sign_flip_fraction"]


def _pairs(a: Sequence[Tensor], b: Sequence[Tensor], what: str) -> list[tuple[Tensor, Tensor]]:
    a, b = list(a), list(b)
    if not a or len(a) != len(b):
        raise ValueError(f"got {len(a)} and {len(b)} {what}: pass one tensor per layer in both lists")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape:
            raise ValueError(f"layer {i}: shapes {tuple(x.shape)} and {tuple(y.shape)} differ")
    return list(zip(a, b, strict=True))


def _rows(t: Tensor, stacked: bool) -> Tensor:
    """(R, n): one row per member if stacked, else one row."""
    return t.reshape(t.shape[0], -1) if stacked else t.reshape(1, -1)


def _collapse(v: Tensor, stacked: bool) -> Tensor | float:
    return v if stacked else float(v[0])


@torch.no_grad()
def density_of(masks: Sequence[Tensor], stacked: bool = False) -> Tensor | float:
    """The kept fraction over all layers: a float, or (R,) per member when `stacked`."""
    masks = list(masks)
    if not masks:
        raise ValueError("pass at least one mask")
    kept = sum((_rows(m, stacked) != 0).sum(1) for m in masks)
    total = sum(_rows(m, stacked).shape[1] for m in masks)
    return _collapse(kept.double() / total, stacked)


@torch.no_grad()
def layer_densities_of(masks: Sequence[Tensor], stacked: bool = False) -> Tensor:
    """The kept fraction of every layer: (L,), or (R, L) per member when `stacked`."""
    masks = list(masks)
    if not masks:
        raise ValueError("pass at least one mask")
    dens = torch.stack([(_rows(m, stacked) != 0).double().mean(1) for m in masks], dim=1)
    return dens if stacked else dens[0]


@torch.no_grad()
def mask_overlap(a: Sequence[Tensor], b: Sequence[Tensor], stacked: bool = False) -> Tensor | float:
    """Jaccard overlap |a ∩ b| / |a ∪ b| of two masks over all layers (1 for identical masks)."""
    inter = union = 0
    for x, y in _pairs(a, b, "masks"):
        x, y = _rows(x, stacked) != 0, _rows(y, stacked) != 0
        inter = inter + (x & y).sum(1)
        union = union + (x | y).sum(1)
    return _collapse(inter.double() / union.clamp(min=1).double(), stacked)


@torch.no_grad()
def sign_flip_fraction(weights: Sequence[Tensor], reference: Sequence[Tensor],
                       masks: Sequence[Tensor] | None = None, stacked: bool = False) -> Tensor | float:
    """Fraction of surviving weights whose sign differs from `reference` (e.g. the initialisation).

    Surviving: inside `masks` (all entries if None) and nonzero in both tensors. 0 when nothing survives.
    """
    masks = [torch.ones_like(w) for w in weights] if masks is None else list(masks)
    _pairs(weights, masks, "weights/masks")
    flips = kept = 0
    for (w, r), m in zip(_pairs(weights, reference, "weights/references"), masks, strict=True):
        w, r, m = _rows(w, stacked), _rows(r, stacked), _rows(m, stacked) != 0
        alive = m & (w != 0) & (r != 0)
        flips = flips + (alive & (torch.sign(w) != torch.sign(r))).sum(1)
        kept = kept + alive.sum(1)
    return _collapse(flips.double() / kept.clamp(min=1).double(), stacked)
