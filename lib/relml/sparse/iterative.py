"""Train–prune cycles: IMP with weight rewinding, learning-rate rewinding, cyclic training, SCULPT-ing.

One engine, `prune_cycles`, runs a list of training cycles. Every cycle is a fresh optimizer and a full
learning-rate schedule (`Cycle`: linear warmup, then cosine to zero), i.e. a warm restart; before cycle
i ≥ 1 the mask may shrink to `densities[i]` by magnitude (global or per layer), and the weights are then
either kept (LRR) or rewound. The schemes of the papers are choices of densities and rewinding:

- IMP (Frankle & Carbin 2019; Frankle et al. 2020 for rewinding to an early step): densities 1, q, q², …
  (prune a fraction 1 − q of the remaining weights each round), `rewind=True`: the survivors go back to
  θ_k after every prune, k = `pretrain_epochs` epochs of dense training at a linearly warmed-up LR that
  every scheme gets before its first cycle (k = 0: the initialisation θ_0; the official code of "Masks,
  Signs, and LRR" uses a 10-epoch warmup). Every
  parameter is rewound, BN affine γ, β included (as the official code of Gadhikar & Burkholz, ICLR 2024,
  does); BN running statistics only with `rewind_buffers=True`.
- LRR (Renda et al. 2020): the same densities, keep the trained weights, restart only the schedule.
- IMP with another run's masks and signs ("Masks, Signs, and LRR", Sec. 3): prescribed `masks` per
  cycle and `signs`: after rewinding, w ← |w| ⊙ sign(s) on the surviving weights.
- Cyclic training of a fixed mask ("Cyclic Sparse Training: Is it Enough?", Gadhikar, Nelaturu &
  Burkholz 2024): `init_masks` (e.g. a random ER mask), the same density every cycle, no rewinding.
- SCULPT-ing (same paper): cyclic training at a moderate density, one magnitude prune to the target,
  one more cycle keeping the weights.

Budget accounting is the same for all schemes: every row of the result records the epochs spent so far
(warmup included), so arms are compared at equal total epochs. Optimizer state (momentum, Adam moments)
is reset at every cycle in every scheme. Stacked ensembles (`relml.models.EnsembleMLP`, weights
(R, ...)) are pruned, rewound and measured per member (`stacked=True`): R seeds cost one training loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from relml.sparse.gradual import magnitude_masks
from relml.sparse.masks import MaskCallback, check_density, maskable_weights
from relml.sparse.metrics import density_of, sign_flip_fraction
from relml.train import History, fit

__all__ = ["Cycle", "PruneRun", "cycle_optimizer", "imp_densities", "member_metrics", "prune_cycles",
           "train_cycle"]

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
Metrics = Callable[[nn.Module], dict[str, Any]]


@dataclass(frozen=True)
class Cycle:
    """One training cycle: a fresh optimizer and a full LR schedule (warm restart).

    The learning rate rises linearly over `warmup_epochs` and then follows `schedule` ("cosine": to zero
    at the end of the cycle; "constant"), updated every optimizer step. optimizer: "sgd" (with
    `momentum`, the papers' choice) or "adam".
    """

    epochs: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    schedule: str = "cosine"
    batch_size: int = 128

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("warmup_epochs", 0), ("batch_size", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name}={v!r}: pass an integer >= {low}")
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} exceeds epochs={self.epochs}")
        lr_ok = math.isfinite(self.lr) and self.lr > 0
        if not lr_ok or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError("pass lr > 0, momentum in [0, 1) and weight_decay >= 0")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer={self.optimizer!r}: pass 'sgd' or 'adam'")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule={self.schedule!r}: pass 'cosine' or 'constant'")


def _steps_per_epoch(data: Batch | Iterable[Batch], batch_size: int) -> int:
    if isinstance(data, tuple):
        return max(1, math.ceil(len(data[0]) / batch_size))
    if not hasattr(data, "__len__"):
        raise ValueError("pass a tensor pair or a sized iterable of batches (len() = batches per epoch)")
    return max(1, len(data))


def cycle_optimizer(model: nn.Module, cycle: Cycle, steps_per_epoch: int
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """A fresh optimizer over `model.parameters()` and its per-step warmup + cosine/constant schedule."""
    if cycle.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=cycle.lr,
                                                     momentum=cycle.momentum, weight_decay=cycle.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cycle.lr, weight_decay=cycle.weight_decay)
    total, warm = cycle.epochs * steps_per_epoch, cycle.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:  # step = optimizer steps taken so far in this cycle
        if step < warm:
            return (step + 1) / warm
        if cycle.schedule == "constant" or total == warm:
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / (total - warm)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train_cycle(model: nn.Module, data: Batch | Iterable[Batch], cycle: Cycle, *,
                callbacks: Sequence[object] = (), loss_fn: LossFn = F.cross_entropy, seed: int = 0,
                desc: str = "cycle") -> History:
    """Train one cycle: fresh optimizer, the cycle's schedule stepped every optimizer step."""
    opt, sched = cycle_optimizer(model, cycle, _steps_per_epoch(data, cycle.batch_size))
    return fit(model, data, opt, epochs=cycle.epochs, loss_fn=loss_fn, scheduler=sched, scheduler_per="step",
               batch_size=cycle.batch_size, callbacks=list(callbacks), seed=seed, progress=False, desc=desc)


def imp_densities(rounds: int, rate: float = 0.2) -> list[float]:
    """Densities of IMP/LRR's cycles: 1 (dense), then (1 − rate)^r for r = 1..rounds."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds={rounds!r}: pass the number of pruning rounds, an integer >= 0")
    if not 0 < rate < 1:
        raise ValueError(f"rate={rate!r}: pass the fraction of remaining weights pruned per round, in (0, 1)")
    return [(1.0 - rate) ** r for r in range(rounds + 1)]


@dataclass
class PruneRun:
    """What `prune_cycles` did: one row per cycle and member, the masks and the starting weights.

    table: cycle, run (member), density (realised), epochs (spent so far), flips_init (surviving weights
    whose sign differs from θ_0), flips_prev (… from the end of the previous cycle), plus `metrics`'s.
    masks[i] / start_signs[i]: the masks and the sign of the weights at the start of cycle i (after
    pruning and rewinding).
    """

    table: pd.DataFrame
    masks: list[list[Tensor]] = field(repr=False)
    start_signs: list[list[Tensor]] = field(repr=False)

    def final(self) -> pd.DataFrame:
        """The rows of the last cycle."""
        return self.table[self.table.cycle == self.table.cycle.max()].reset_index(drop=True)


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def _rewind(model: nn.Module, state: dict[str, Tensor], buffers: bool) -> None:
    """Restore every parameter (BN γ, β included) from `state`; buffers (BN statistics) if asked."""
    names = {n for n, _ in model.named_parameters()}
    if buffers:
        names |= {n for n, _ in model.named_buffers()}
    for name, value in model.state_dict().items():
        if name in names:
            value.copy_(state[name])


def _as_rows(value: Any, members: int) -> list[float]:
    v = torch.as_tensor(value).detach().reshape(-1).double().cpu()
    if v.numel() == 1:
        v = v.expand(members)
    if v.numel() != members:
        raise ValueError(f"a metric has {v.numel()} values for {members} members: return one per member")
    return v.tolist()


def _check_plan(densities: Sequence[float], masks: Sequence[Sequence[Tensor]] | None,
                signs: Sequence[Sequence[Tensor] | None] | None, pretrain_epochs: int) -> list[float]:
    dens = [check_density(d, f"densities[{i}]") for i, d in enumerate(densities)]
    if not dens:
        raise ValueError("pass at least one cycle density")
    if any(b > a + 1e-12 for a, b in zip(dens, dens[1:], strict=False)):
        raise ValueError(f"densities={dens}: masks only shrink, pass non-increasing densities")
    for name, seq in (("masks", masks), ("signs", signs)):
        if seq is not None and len(seq) != len(dens):
            raise ValueError(f"got {len(seq)} {name} for {len(dens)} cycles: pass one entry per cycle")
    if isinstance(pretrain_epochs, bool) or not isinstance(pretrain_epochs, int) or pretrain_epochs < 0:
        raise ValueError(f"pretrain_epochs={pretrain_epochs!r}: pass an integer >= 0")
    return dens


def prune_cycles(model: nn.Module, data: Batch | Iterable[Batch], cycle: Cycle, densities: Sequence[float], *,
                 rewind: bool = False, pretrain_epochs: int = 0, rewind_buffers: bool = False,
                 init_masks: Sequence[Tensor] | None = None, masks: Sequence[Sequence[Tensor]] | None = None,
                 signs: Sequence[Sequence[Tensor] | None] | None = None, scope: str = "global",
                 stacked: bool = False, metrics: Metrics | None = None, loss_fn: LossFn = F.cross_entropy,
                 seed: int = 0, progress: bool = True, desc: str = "cycles") -> PruneRun:
    """Run len(densities) training cycles of `model` with magnitude pruning between them (module doc).

    densities: target density of each cycle (non-increasing; the first is the starting mask's). The mask
    is pruned by magnitude only before a cycle whose density is below the previous cycle's, so a fixed
    start mask (e.g. a random one whose exact-k rounding lands near p) stays exactly as drawn.
    rewind: IMP's weight rewinding to θ_k after every prune (False: LRR, cyclic training, SCULPT), k =
    `pretrain_epochs` dense epochs at a linearly warmed-up LR, run first in every scheme (budget counted).
    masks: prescribed masks per cycle
    instead of magnitude pruning (e.g. another run's `PruneRun.masks`); signs: per cycle, signs imposed
    on the surviving weights after rewinding (None entries: keep). metrics(model) → {name: value or (R,)}
    is recorded after every cycle. Returns a `PruneRun`.
    """
    dens = _check_plan(densities, masks, signs, pretrain_epochs)
    weights = maskable_weights(model)
    members = weights[0].shape[0] if stacked else 1
    start = init_masks if init_masks is not None else (masks[0] if masks is not None else None)
    mask = MaskCallback(weights, [m.clone() for m in start] if start is not None
                        else [torch.ones_like(w) for w in weights])
    spent = 0
    try:
        theta0 = [w.detach().clone() for w in weights]
        if pretrain_epochs > 0:
            warm = replace(cycle, epochs=pretrain_epochs, warmup_epochs=pretrain_epochs, schedule="constant")
            train_cycle(model, data, warm, callbacks=[mask], loss_fn=loss_fn, seed=seed + 7919, desc="warmup")
            spent += pretrain_epochs
        rewind_state = _snapshot(model)
        rows, kept_masks, start_signs = [], [], []
        previous = [w.detach().clone() for w in weights]
        bar = tqdm(range(len(dens)), desc=desc, leave=False,
                   disable=not progress or os.environ.get("RELML_PROGRESS", "1") == "0")
        for i in bar:
            if i > 0:
                if masks is not None or dens[i] < dens[i - 1]:
                    _prune_to(mask, dens[i], masks[i] if masks is not None else None, scope, stacked)
                if rewind:
                    _rewind(model, rewind_state, rewind_buffers)
                if signs is not None and signs[i] is not None:
                    _impose_signs(weights, signs[i])
                mask.apply()
            kept_masks.append([m.detach().to(torch.bool) for m in mask.masks])
            start_signs.append([torch.sign(w.detach()).to(torch.int8) for w in weights])
            train_cycle(model, data, cycle, callbacks=[mask], loss_fn=loss_fn, seed=seed + 1009 * i,
                               desc=f"{desc} {i}")
            spent += cycle.epochs
            row_metrics = dict(metrics(model)) if metrics is not None else {}
            flips_init = sign_flip_fraction(weights, theta0, mask.masks, stacked)
            flips_prev = sign_flip_fraction(weights, previous, mask.masks, stacked)
            density = density_of(mask.masks, stacked)
            cols = {"density": density, "flips_init": flips_init, "flips_prev": flips_prev, **row_metrics}
            values = {k: _as_rows(v, members) for k, v in cols.items()}
            rows += [dict(cycle=i, run=r, epochs=spent, **{k: v[r] for k, v in values.items()})
                     for r in range(members)]
            previous = [w.detach().clone() for w in weights]
        return PruneRun(pd.DataFrame(rows), kept_masks, start_signs)
    finally:
        mask.remove()


@torch.no_grad()
def _prune_to(mask: MaskCallback, density: float, prescribed: Sequence[Tensor] | None, scope: str,
              stacked: bool) -> None:
    """Shrink the masks in place: to `prescribed`, or by magnitude to `density` (if below the current)."""
    if prescribed is not None:
        new = list(prescribed)
        if len(new) != len(mask.masks):
            raise ValueError(f"a prescribed mask list has {len(new)} tensors for {len(mask.masks)} weights")
        for old, m in zip(mask.masks, new, strict=True):
            old.copy_(m.to(old.dtype))
        return
    new = magnitude_masks(mask.weights, 1.0 - density, scope, stacked)
    for old, m in zip(mask.masks, new, strict=True):
        old.mul_(m)


@torch.no_grad()
def _impose_signs(weights: Sequence[nn.Parameter], signs: Sequence[Tensor]) -> None:
    """w ← |w| ⊙ sign(s) where s is nonzero; weights with s = 0 keep their sign."""
    if len(signs) != len(weights):
        raise ValueError(f"got {len(signs)} sign tensors for {len(weights)} weights")
    for w, s in zip(weights, signs, strict=True):
        s = torch.sign(s.to(w.dtype))
        w.copy_(torch.where(s != 0, w.abs() * s, w))



@torch.no_grad()
def member_metrics(model: nn.Module, data: Any, batch_size: int = 1024) -> dict[str, Tensor]:
    """Train loss (mean cross-entropy over the whole training set) and test accuracy, one value per member.

    data: anything with x_train, y_train, x_test, y_test (`relml.data.TensorSplit`). model(x) → (R, b, C)
    for a stacked ensemble or (b, C) for one network (R = 1); evaluated in eval mode (BN running
    statistics) in batches of `batch_size`. Returns {"train_loss": (R,), "acc": (R,)}; use it as
    `metrics=lambda m: member_metrics(m, data)`.
    """
    was = model.training
    model.eval()
    device = next(model.parameters()).device

    def scan(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        loss = correct = torch.zeros(())
        for i in range(0, len(x), batch_size):
            out = model(x[i : i + batch_size].to(device))
            out = out if out.ndim == 3 else out.unsqueeze(0)  # (R, b, C)
            yb = y[i : i + batch_size].to(device).expand(out.shape[0], -1)  # (R, b)
            loss = loss + F.cross_entropy(out.transpose(1, 2), yb, reduction="none").sum(1).cpu()
            correct = correct + (out.argmax(-1) == yb).sum(1).cpu()
        return loss / len(x), correct.double() / len(x)

    try:
        train_loss, _ = scan(data.x_train, data.y_train)
        _, acc = scan(data.x_test, data.y_test)
    finally:
        model.train(was)
    return {"train_loss": train_loss, "acc": acc}
