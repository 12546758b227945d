"""The arms of "Cyclic Sparse Training: Is it Enough?" (Gadhikar, Nelaturu & Burkholz 2024) as tidy tables.

Every arm is one call of the shared engine `relml.sparse.iterative.prune_cycles` (warm-restart cycles,
magnitude pruning between them); this module only chooses its inputs and measures the result:

- `fixed_mask_arm`: cyclic training of a random (ER) mask drawn once at initialisation (pruning at
  initialisation, PaI): c cycles at the same density, the weights kept from cycle to cycle. With
  `cycles=1` and a c-times longer cycle it is the usual single long cycle (`one_cycle_arm`).
- `iterative_arm`: LRR (keep the weights, restart the schedule) or IMP (rewind to θ_k) from dense to the
  target through the densities 1, q, q², … (Renda et al. 2020; Frankle et al. 2020).
- `sculpt_arm`: SCULPT-ing: cyclic training of a random mask at a moderate density p₀, one global
  magnitude prune to the target p, one more cycle keeping the weights (the paper's abstract: "cyclic
  training of any sparse mask followed by a single pruning step"; where p₀ lies and whether the last
  cycle keeps the weights we could not confirm from its text, keeping them is LRR's choice).

Each returns one row per (cycle, run): arm, run, seed, cycle, density, epochs (budget spent so far),
cost (Σ over finished cycles of density × epochs, "density-weighted epochs": for an MLP exactly the
training FLOPs in units of one dense epoch, for a conv net an approximation since a conv weight's
FLOPs depend on its feature-map size), train_loss and acc (test accuracy) after the cycle.

Quick scale: the runs (seeds) of an arm are the members of one `relml.models.EnsembleMLP`, pruned and
measured per member. Paper scale: one ResNet-18 / VGG-16 per seed on CIFAR with the standard
augmentation (`relml.data.augment.AugmentedBatches`) and SGD with momentum 0.9 (the `Cycle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from relml.sparse.iterative import Cycle, PruneRun, imp_densities, member_metrics, prune_cycles
from relml.sparse.masks import check_density, layer_densities, maskable_weights, random_masks
from relml.sparse.testbed import Testbed, load_testbed

__all__ = ["Testbed", "arm_summary", "density_weighted_epochs", "fixed_mask_arm", "iterative_arm",
           "load_testbed", "one_cycle_arm", "random_start_masks", "rounds_to", "sculpt_arm"]


def rounds_to(target: float, rate: float) -> int:
    """The pruning rounds IMP/LRR need to reach density `target` at `rate` per round: ⌈log p / log(1−q)⌉."""
    p = check_density(target, "target")
    if not 0 < rate < 1:
        raise ValueError(f"rate={rate!r}: pass the fraction of remaining weights pruned per round, in (0, 1)")
    return max(0, int(np.ceil(np.log(p) / np.log1p(-rate) - 1e-9)))


def density_weighted_epochs(table: pd.DataFrame, pretrain_epochs: int = 0) -> pd.Series:
    """Cumulative Σ_cycles density × epochs of each run (dense pretraining counts at density 1).

    table: `PruneRun.table`-like rows (cycle, run, density, epochs). The mask is fixed during a cycle, so
    the density recorded after a cycle is the one it trained at.
    """
    ordered = table.sort_values(["run", "cycle"])
    spent = ordered.groupby("run").epochs.diff().fillna(ordered.epochs - pretrain_epochs)
    cost = (spent * ordered.density).groupby(ordered.run).cumsum() + pretrain_epochs
    return cost.reindex(table.index)


def random_start_masks(model: nn.Module, density: float, allocation: str = "erk", *, stacked: bool = False,
                       generator: torch.Generator | None = None) -> list[Tensor]:
    """Random ER masks of global density `density`, spread over the layers by `allocation`.

    For a stacked ensemble (weights (R, ...)) every member gets its own exact-k mask per layer.
    """
    weights = maskable_weights(model)
    shapes = [tuple(w.shape[1:]) if stacked else tuple(w.shape) for w in weights]
    dens = layer_densities(allocation, shapes, check_density(density))
    if stacked:
        members = weights[0].shape[0]
        return random_masks(model, [np.full(members, p) for p in dens], generator)
    return random_masks(model, dens, generator)


def _run_arm(bench: Testbed, name: str, cycle: Cycle, densities: Sequence[float], seeds: Sequence[int], *,
             start_density: float | None = None, rewind: bool = False, pretrain_epochs: int = 0,
             progress: bool = False) -> pd.DataFrame:
    if not seeds:
        raise ValueError("pass at least one seed")
    tables = []
    for model, held in bench.build(seeds):
        init = None
        if start_density is not None:
            gen = torch.Generator().manual_seed(10_007 * int(held[0]) + 1)
            init = random_start_masks(model, start_density, bench.allocation, stacked=bench.stacked,
                                      generator=gen)
        run: PruneRun = prune_cycles(
            model, bench.batches(cycle, held[0]), cycle, list(densities), rewind=rewind,
            pretrain_epochs=pretrain_epochs, init_masks=init, stacked=bench.stacked,
            metrics=lambda m: member_metrics(m, bench.data), loss_fn=bench.loss_fn(model), seed=int(held[0]),
            progress=progress, desc=name)
        table = run.table.copy()
        table["cost"] = density_weighted_epochs(table, pretrain_epochs)
        table["seed"] = [held[r] for r in table.run]
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    out["run"] = out.seed.rank(method="dense").astype(int) - 1
    out.insert(0, "arm", name)
    cols = ["arm", "run", "seed", "cycle", "density", "epochs", "cost", "train_loss", "acc"]
    return out[cols + [c for c in out.columns if c not in cols]]


def fixed_mask_arm(bench: Testbed, cycle: Cycle, density: float, cycles: int, seeds: Sequence[int], *,
                   name: str | None = None, progress: bool = False) -> pd.DataFrame:
    """Cyclic training of a random mask of `density` (PaI): `cycles` warm-restart cycles, no pruning.

    Budget: cycles × cycle.epochs. Rows: one per cycle and run (module doc).
    """
    _check_count(cycles, "cycles")
    return _run_arm(bench, name or f"cyclic x{cycles}", cycle, [check_density(density)] * cycles, seeds,
                    start_density=density, progress=progress)


def one_cycle_arm(bench: Testbed, cycle: Cycle, density: float, cycles: int, seeds: Sequence[int], *,
                  name: str = "one cycle", progress: bool = False) -> pd.DataFrame:
    """The same random mask trained in one long cycle of cycles × cycle.epochs epochs (same budget)."""
    _check_count(cycles, "cycles")
    return fixed_mask_arm(bench, replace(cycle, epochs=cycle.epochs * cycles), density, 1, seeds, name=name,
                          progress=progress)


def iterative_arm(bench: Testbed, cycle: Cycle, target: float, rate: float, seeds: Sequence[int], *,
                  rewind: bool = False, pretrain_epochs: int = 0, name: str | None = None,
                  progress: bool = False) -> pd.DataFrame:
    """LRR (`rewind=False`) or IMP (`rewind=True`, to θ_k after `pretrain_epochs`) from dense to `target`.

    Densities 1, q, q², … with q = 1 − rate, the last round clipped to `target`: `rounds_to(target, rate)`
    + 1 cycles. Rows for every cycle, so intermediate densities can be read off too.
    """
    rounds = rounds_to(target, rate)
    dens = [max(d, check_density(target)) for d in imp_densities(rounds, rate)]
    return _run_arm(bench, name or ("IMP" if rewind else "LRR"), cycle, dens, seeds, rewind=rewind,
                    pretrain_epochs=pretrain_epochs, progress=progress)


def sculpt_arm(bench: Testbed, cycle: Cycle, start_density: float, target: float, cycles: int,
               seeds: Sequence[int], *, name: str = "SCULPT", progress: bool = False) -> pd.DataFrame:
    """SCULPT-ing: `cycles` cycles of a random mask at `start_density`, one global magnitude prune to
    `target`, one more cycle keeping the weights. Budget (cycles + 1) × cycle.epochs; cost
    (cycles · p₀ + p) × cycle.epochs density-weighted epochs."""
    _check_count(cycles, "cycles")
    p0, p = check_density(start_density, "start_density"), check_density(target, "target")
    if p >= p0:
        raise ValueError(f"target={p} must be below start_density={p0}: SCULPT prunes once, to a sparser "
                         "mask")
    return _run_arm(bench, name, cycle, [p0] * cycles + [p], seeds, start_density=p0, progress=progress)


def arm_summary(tables: Sequence[pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """The last cycle of every arm: mean, min and max over runs of acc and train_loss, with the arm's
    density, epochs and cost (density-weighted epochs). One row per arm, in the given order."""
    table = pd.concat(list(tables), ignore_index=True) if not isinstance(tables, pd.DataFrame) else tables
    last = table[table.cycle == table.groupby("arm").cycle.transform("max")]
    out = last.groupby("arm", sort=False).agg(
        density=("density", "mean"), epochs=("epochs", "max"), cost=("cost", "mean"),
        acc=("acc", "mean"), acc_min=("acc", "min"), acc_max=("acc", "max"),
        train_loss=("train_loss", "mean"), train_loss_max=("train_loss", "max"), runs=("run", "nunique"))
    return out.reset_index()


def _check_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: pass an integer >= 1")
