"""One training loop for the papers: `fit(model, data, optimizer, epochs=...)`.

Optimizer and scheduler come in from outside; callbacks hook in after every optimizer step (e.g. to
re-apply a sparsity mask) and after every epoch (to add metrics). With `checkpoint=path` the state is
written atomically after each epoch, and `resume=True` continues an interrupted run to the same result
as an uninterrupted one: batch order depends only on (seed, epoch) and the RNG state is saved.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


class Callback(Protocol):
    """Any subset of these methods; `fit` calls the ones a callback defines."""

    def on_step_end(self, model: nn.Module, step: int) -> None: ...
    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float] | None: ...


@dataclass
class History:
    """One dict of metrics per finished epoch."""

    records: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1] if self.records else {}


def batches(data: Batch, batch_size: int, generator: torch.Generator | None = None) -> Iterable[Batch]:
    """Mini-batches of a tensor pair (x: (n, ...), y: (n, ...)), shuffled when a generator is given."""
    x, y = data
    n = len(x)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(x.device)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


@torch.no_grad()
def evaluate(model: nn.Module, data: Batch, loss_fn: LossFn = F.cross_entropy,
             batch_size: int = 4096) -> dict[str, float]:
    """Mean loss and, for class labels, accuracy of `model` on a tensor pair."""
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    for x, y in batches(data, batch_size):
        out = model(x)
        total += float(loss_fn(out, y)) * len(x)
        if y.dtype == torch.long and out.shape[-1] > 1:
            correct += int((out.argmax(-1) == y).sum())
        n += len(x)
    model.train(was_training)
    metrics = {"loss": total / n}
    if data[1].dtype == torch.long:
        metrics["acc"] = correct / n
    return metrics


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fit(
    model: nn.Module,
    data: Batch | Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    loss_fn: LossFn = F.cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_per: str = "epoch",
    batch_size: int = 128,
    eval_data: Batch | None = None,
    callbacks: Iterable[object] = (),
    checkpoint: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train `model` for `epochs` and return its per-epoch history (train loss, eval metrics, callbacks').

    `data` is a tensor pair (shuffled each epoch by a generator seeded with seed + epoch) or any iterable
    of batches (a DataLoader). `scheduler_per` is "epoch" or "step". Set `checkpoint` to save every epoch;
    `resume=True` loads it (if present) and continues from the next epoch.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if scheduler_per not in ("epoch", "step"):
        raise ValueError(f"scheduler_per must be 'epoch' or 'step', got {scheduler_per!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    callbacks = list(callbacks)
    history, start, step = History(), 0, 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        for cb, cb_state in zip(callbacks, state["callbacks"], strict=True):
            if cb_state is not None:
                cb.load_state_dict(cb_state)
        torch.set_rng_state(state["rng"])
        history, start, step = History(state["history"]), state["epoch"] + 1, state["step"]

    enabled = progress and os.environ.get("RELML_PROGRESS", "1") != "0"
    bar = tqdm(range(start, epochs), desc=desc, initial=start, total=epochs, disable=not enabled,
               leave=False)
    for epoch in bar:
        model.train()
        if isinstance(data, tuple):
            gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
            loader: Iterable[Batch] = batches(data, batch_size, gen)
        else:
            loader = data
        total, n = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"loss is {float(loss.detach())} at epoch {epoch}, step {step}: "
                                         "lower the learning rate or check the data for NaN")
            loss.backward()
            optimizer.step()
            step += 1
            for cb in callbacks:
                if hasattr(cb, "on_step_end"):
                    cb.on_step_end(model, step)
            if scheduler is not None and scheduler_per == "step":
                scheduler.step()
            total += float(loss.detach()) * len(x)
            n += len(x)
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        record = {"epoch": float(epoch), "train_loss": total / max(n, 1)}
        if eval_data is not None:
            record.update({f"eval_{k}": v for k, v in evaluate(model, eval_data, loss_fn).items()})
        for cb in callbacks:
            if hasattr(cb, "on_epoch_end"):
                record.update(cb.on_epoch_end(model, epoch) or {})
        history.records.append(record)
        bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
        if ckpt is not None:
            _save_atomic({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in callbacks],
                "rng": torch.get_rng_state(), "history": history.records, "epoch": epoch, "step": step,
            }, ckpt)
    return history
