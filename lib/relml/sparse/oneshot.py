"""One-shot global magnitude pruning of a trained network, optionally followed by fine-tuning in the mask.

The classic baseline of the pruning papers (Han et al. 2015; in "Mask in the Mirror", Jacobs & Burkholz,
ICLR 2025, Sec. 4 "one-shot sparsification": train, then remove the smallest fraction s of the weights):
rank all prunable weights of the network together by |w| (`relml.sparse.gradual.magnitude_masks`, scope
"global"), keep the largest (1 − s), and fine-tune the survivors for a few epochs with SGD while a
`MaskCallback` holds the pruned weights at exactly zero. Stacked ensembles (weights (R, ...), e.g.
`relml.models.EnsembleMLP`) are pruned per member (`stacked=True`), so R runs cost one training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.sparse.gradual import magnitude_masks
from relml.sparse.masks import MaskCallback, maskable_weights
from relml.train import fit

__all__ = ["FineTune", "one_shot_prune", "one_shot_sweep"]

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class FineTune:
    """How pruned networks are fine-tuned: SGD with momentum at a constant learning rate."""

    epochs: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs={self.epochs!r}: pass the number of fine-tuning epochs (>= 0)")
        if not self.lr > 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.batch_size < 1:
            raise ValueError("pass lr > 0, momentum in [0, 1), weight_decay >= 0 and batch_size >= 1")


def one_shot_prune(model: nn.Module, sparsity: float, *, stacked: bool = False,
                   weights: Sequence[nn.Parameter] | None = None) -> MaskCallback:
    """Zero the fraction `sparsity` of smallest-magnitude weights, ranked over the whole network (per member
    if `stacked`); return the `MaskCallback` that keeps them zero (already applied; `remove()` it after).

    weights: default `maskable_weights(model)` (linear/conv kernels; biases and norm parameters stay
    dense).
    """
    params = maskable_weights(model) if weights is None else list(weights)
    return MaskCallback(params, magnitude_masks(params, sparsity, "global", stacked))


def one_shot_sweep(model: nn.Module, train: Batch | Iterable[Batch], sparsities: Sequence[float],
                   accuracy: Callable[[nn.Module], Tensor | float], finetune: FineTune | None = None, *,
                   stacked: bool = False, loss_fn: LossFn = F.cross_entropy) -> pd.DataFrame:
    """Prune the trained `model` to each sparsity in turn (from the same trained weights) and measure
    `accuracy(model)` right after pruning and, with `finetune`, after fine-tuning inside the mask.

    accuracy returns one number, or one per member (R,) for a stacked ensemble. The model is restored to
    its trained weights at the end. Returns rows (sparsity, finetuned, run, acc) with run = member index.
    """
    if not sparsities:
        raise ValueError("pass at least one sparsity")
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows = []

    def record(sparsity: float, finetuned: bool) -> None:
        acc = torch.as_tensor(accuracy(model)).detach().reshape(-1).cpu().tolist()
        rows.extend(dict(sparsity=float(sparsity), finetuned=finetuned, run=r, acc=float(a))
                    for r, a in enumerate(acc))

    try:
        for s in sparsities:
            model.load_state_dict(trained)
            mask = one_shot_prune(model, s, stacked=stacked)
            record(s, False)
            if finetune is not None and finetune.epochs > 0:
                opt = torch.optim.SGD(model.parameters(), lr=finetune.lr, momentum=finetune.momentum,
                                      weight_decay=finetune.weight_decay)
                fit(model, train, opt, epochs=finetune.epochs, loss_fn=loss_fn,
                    batch_size=finetune.batch_size, callbacks=[mask], seed=finetune.seed, progress=False)
                record(s, True)
            mask.remove()
    finally:
        model.load_state_dict(trained)
    return pd.DataFrame(rows)
