"""The experiments of "Masks, Signs, and Learning Rate Rewinding" (Gadhikar & Burkholz, ICLR 2024, Sec. 3).

Four arms on the same initialisation, all through `relml.sparse.iterative.prune_cycles` with the same
schedule per round and the same budget:

- ``imp``: IMP with weight rewinding to θ_k (after `pretrain_epochs` dense epochs);
- ``lrr``: learning-rate rewinding (keep the weights, restart the schedule);
- ``imp_lrr_mask``: IMP that prunes to LRR's mask of each round instead of its own (the paper's
  `mask-ref` pruner);
- ``imp_lrr_mask_signs``: the same, with the rewound magnitudes |θ_k| given LRR's signs at the start of
  each round (the official code's `--reset-weight-sign`), on the surviving weights;
- ``imp_random`` / ``lrr_random``: IMP / LRR on random masks instead of magnitude ones ("LRR is better at
  optimising diverse masks, including random ones"): nested random masks that remove the same fraction of
  the remaining weights of every layer each round (the official code's random pruners; `nested_random_masks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.data import TensorSplit
from relml.models import EnsembleMLP
from relml.sparse.gradual import magnitude_masks
from relml.sparse.iterative import Cycle, Metrics, PruneRun, member_metrics, prune_cycles
from relml.sparse.masks import check_density, maskable_weights
from relml.sparse.metrics import layer_densities_of, mask_overlap, sign_flip_fraction
from relml.sparse.testbed import Testbed

__all__ = ["ARMS", "arms_table", "lrr_arms", "lrr_experiment", "mask_comparison", "nested_random_masks"]

ARMS = ("imp", "lrr", "imp_lrr_mask", "imp_lrr_mask_signs", "imp_random", "lrr_random")
Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


@torch.no_grad()
def nested_random_masks(model: nn.Module, densities: Sequence[float], *, stacked: bool = False,
                        generator: torch.Generator | None = None) -> list[list[Tensor]]:
    """One mask list per density (non-increasing): every layer keeps round(d · n_l) weights chosen at
    random, and the masks are nested (each round prunes only surviving weights). One random score per
    weight ranks the weights once (per member if `stacked`); masks float, on the weights' device."""
    weights = maskable_weights(model)
    scores = [torch.rand(w.shape, generator=generator).to(w.device) for w in weights]
    return [magnitude_masks(scores, 1.0 - check_density(d, f"densities[{i}]"), "layer", stacked)
            for i, d in enumerate(densities)]


def lrr_arms(make_model: Callable[[], nn.Module], data: Batch | Iterable[Batch], cycle: Cycle,
             densities: Sequence[float], *, arms: Sequence[str] = ARMS, pretrain_epochs: int = 0,
             stacked: bool = False, metrics: Metrics | None = None, loss_fn: LossFn = F.cross_entropy,
             seed: int = 0) -> dict[str, PruneRun]:
    """Run the asked `arms` (module doc) from the same initialisation: make_model() must return a freshly
    initialised model with the same weights on every call (seed it inside). densities: IMP's per-round
    densities (`imp_densities`). LRR runs first when a transfer arm needs its masks or signs; both random
    arms share one draw of nested random masks (seeded by `seed`)."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ValueError(f"arms={list(arms)!r}: pass a non-empty subset of {', '.join(ARMS)}")
    common: dict[str, Any] = dict(pretrain_epochs=pretrain_epochs, stacked=stacked, metrics=metrics,
                                  loss_fn=loss_fn, seed=seed, progress=True)
    needs_lrr = any(a.startswith("imp_lrr") for a in arms)
    order = ["lrr"] * needs_lrr + [a for a in arms if a != "lrr" or not needs_lrr]
    runs: dict[str, PruneRun] = {}
    random = None
    if any(a.endswith("_random") for a in arms):
        gen = torch.Generator().manual_seed(seed * 7_919 + 3)
        random = nested_random_masks(make_model(), densities, stacked=stacked, generator=gen)
    for arm in order:
        masks = signs = None
        if arm.endswith("_random"):
            masks = random
        if arm.startswith("imp_lrr"):
            masks = [[m.to(torch.float32) for m in ms] for ms in runs["lrr"].masks]
            signs = runs["lrr"].start_signs if arm == "imp_lrr_mask_signs" else None
        runs[arm] = prune_cycles(make_model(), data, cycle, densities, rewind=arm.startswith("imp"),
                                 masks=masks, signs=signs, desc=arm, **common)
    return {a: runs[a] for a in arms}


def arms_table(runs: dict[str, PruneRun]) -> pd.DataFrame:
    """All arms' per-cycle rows in one table with an `arm` column."""
    return pd.concat([r.table.assign(arm=a) for a, r in runs.items()], ignore_index=True)


def mask_comparison(runs: dict[str, PruneRun], stacked: bool = False) -> pd.DataFrame:
    """Per cycle and member, what the arms' masks and signs share (with `relml.sparse.metrics`):

    - overlap: Jaccard overlap of IMP's and LRR's masks (needs both arms);
    - sign_gap: the fraction of LRR's surviving weights whose sign at the start of the cycle differs from
      θ_k's, i.e. how much `imp_lrr_mask_signs` changes over `imp_lrr_mask` (whose rewound start carries
      θ_k's signs on LRR's mask; needs both arms);
    - {arm}_layer_{l}: the density of every layer of the masks of IMP and LRR.
    """
    rows = []
    for i in range(len(next(iter(runs.values())).masks)):
        cols: dict[str, Tensor] = {}
        if {"imp", "lrr"} <= set(runs):
            imp_masks, lrr_masks = runs["imp"].masks[i], runs["lrr"].masks[i]
            cols["overlap"] = torch.as_tensor(mask_overlap(imp_masks, lrr_masks, stacked))
        if {"lrr", "imp_lrr_mask"} <= set(runs):
            lrr, ref = runs["lrr"], runs["imp_lrr_mask"]
            cols["sign_gap"] = torch.as_tensor(
                sign_flip_fraction(lrr.start_signs[i], ref.start_signs[i], lrr.masks[i], stacked))
        for arm in ("imp", "lrr"):
            if arm in runs:
                dens = layer_densities_of(runs[arm].masks[i], stacked)
                dens = dens.reshape(-1, dens.shape[-1])  # (members, layers)
                cols.update({f"{arm}_layer_{layer}": dens[:, layer] for layer in range(dens.shape[1])})
        values = {k: v.reshape(-1).tolist() for k, v in cols.items()}
        members = max((len(v) for v in values.values()), default=0)
        rows += [dict(cycle=i, run=r, **{k: v[r] for k, v in values.items()}) for r in range(members)]
    return pd.DataFrame(rows)


def lrr_experiment(data: TensorSplit, model: str, width: float, cycle: Cycle, densities: Sequence[float],
                   seeds: Sequence[int], *, pretrain_epochs: int = 0, arms: Sequence[str] = ARMS,
                   device: torch.device | str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """All `arms` for every seed on a `Testbed`: the quick MLP as one `EnsembleMLP` with BN (one member per
    seed), or one CIFAR ResNet-18 per seed (SGD, augmented batches). Returns (per-cycle table with arm,
    run = seed, density, epochs, flips, train_loss, acc (test accuracy); `mask_comparison` per cycle and
    seed).
    """
    bench = Testbed(data, model, width, augment=model != "mlp", device=device, norm=True)
    tables, comparisons = [], []
    for held in bench.groups(seeds):
        runs = lrr_arms(lambda held=held: bench.make(held), bench.batches(cycle, held[0]), cycle, densities,
                        arms=arms, pretrain_epochs=pretrain_epochs, stacked=bench.stacked,
                        metrics=lambda m: member_metrics(m, data),
                        loss_fn=EnsembleMLP.loss if bench.stacked else F.cross_entropy, seed=held[0])
        tables.append(arms_table(runs).assign(run=lambda t, held=held: [held[r] for r in t.run]))
        comparisons.append(mask_comparison(runs, bench.stacked).assign(
            run=lambda t, held=held: [held[r] for r in t.run]))
    return pd.concat(tables, ignore_index=True), pd.concat(comparisons, ignore_index=True)
