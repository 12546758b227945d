"""Training random (ER) sparse networks from scratch: every arm (layer-wise ratio, density) × run.

Quick scale (the random-pruning notebook's MLP on digits): all arms and runs of one width train as
the members of one `EnsembleMLP`, one batched matmul per layer, with Adam. Paper scale (ResNet-18 or
VGG-16 on CIFAR, Gadhikar et al. 2023, Sec. 5): one model per arm and run, SGD with momentum 0.9 and a
cosine schedule, standard augmentation. Both draw exact-k ER masks from `random_masks` and may use the
paper code's `ER_init`, N(0, 2 / (p_l fan_in)), which keeps a sparse layer's signal variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from relml.data import TensorSplit
from relml.data.augment import AugmentedBatches
from relml.models import EnsembleMLP
from relml.models.convnets import conv_net
from relml.sparse.masks import MaskCallback, density_table, layer_densities, maskable_weights, random_masks
from relml.train import evaluate, fit

Arm = tuple[str, float]


@dataclass(frozen=True)
class Recipe:
    """How every arm trains: optimizer ('adam' or 'sgd': momentum 0.9, cosine), epochs, LR, ..."""

    optimizer: str = "adam"
    epochs: int = 6
    lr: float = 5e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    er_init: bool = True
    seed: int = 0
    device: torch.device | str = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer={self.optimizer!r}: pass 'adam' or 'sgd'")


def mlp_shapes(width: int, d_in: int = 64, classes: int = 10) -> list[tuple[int, int]]:
    """(in, out) of the three layers of the MLP d_in-h-h-classes."""
    return [(d_in, width), (width, width), (width, classes)]


def source_shapes(model: str, width: float, classes: int = 10) -> list[tuple[int, ...]]:
    """Shapes of the maskable weights of the source network ('mlp' on digits, 'resnet18', 'vgg16')."""
    if model == "mlp":
        return mlp_shapes(int(width), classes=classes)
    return [tuple(w.shape) for w in maskable_weights(conv_net(model, classes, width))]


def train_mlp_arms(data: TensorSplit, width: int, arms: Sequence[Arm], runs: int, recipe: Recipe,
                   callbacks: Sequence[object] = ()) -> tuple[EnsembleMLP, np.ndarray, object]:
    """Train `runs` copies of every arm as one masked EnsembleMLP (members arm-major).

    Returns the ensemble, the per-member layer densities (members, layers) and the fit history.
    """
    gen = torch.Generator().manual_seed(recipe.seed * 100_003 + width)
    ens = EnsembleMLP([data.x_train.shape[1], width, width, 10], len(arms) * runs).to(recipe.device)
    dens = np.repeat(density_table(ens.member_shapes, arms), runs, axis=0)
    ens.reset_parameters(gen, dens if recipe.er_init else None)
    masks = random_masks(ens, list(dens.T), gen)
    opt = torch.optim.Adam(ens.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)
    hist = fit(ens, data.train, opt, epochs=recipe.epochs, loss_fn=ens.loss, batch_size=recipe.batch_size,
               callbacks=[MaskCallback(ens, masks), *callbacks], seed=recipe.seed, progress=False)
    return ens, dens, hist


def train_conv_arm(data: TensorSplit, model: str, width: float, arm: Arm, run: int, recipe: Recipe) -> float:
    """Train one masked ResNet-18 / VGG-16 with SGD (momentum 0.9, cosine); return its test accuracy."""
    torch.manual_seed(run)
    gen = torch.Generator().manual_seed(run)
    classes = int(data.y_train.max()) + 1
    net = conv_net(model, classes, width).to(recipe.device)
    weights = maskable_weights(net)
    dens = layer_densities(arm[0], [tuple(w.shape) for w in weights], arm[1])
    if recipe.er_init:
        with torch.no_grad():
            for w, p in zip(weights, dens, strict=True):
                w.mul_(1 / math.sqrt(p))
    masks = random_masks(net, dens, gen)
    opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.epochs)
    batches = AugmentedBatches(data.x_train, data.y_train, recipe.batch_size, seed=run, device=recipe.device)
    fit(net, batches, opt, epochs=recipe.epochs, scheduler=sched, callbacks=[MaskCallback(net, masks)],
        desc=f"{model} {arm[0]} p={arm[1]:g}")
    return evaluate(net, (data.x_test.to(recipe.device), data.y_test.to(recipe.device)))["acc"]


def er_sweep(data: TensorSplit, model: str, widths: Sequence[float], sweep_width: float,
             densities: Sequence[float], methods: Sequence[str], runs: int, recipe: Recipe) -> pd.DataFrame:
    """Test accuracy of dense and ER-masked sources: every method × density at `sweep_width`, and every
    method at the lowest density for each of `widths`. Rows: width, method, density, run, acc."""
    highest = min(densities)
    records = []
    for h in tqdm(sorted(set(widths) | {sweep_width}), desc="widths", leave=False):
        ps = densities if h == sweep_width else (highest,)
        arms = [("dense", 1.0)] + [(m, p) for m in methods for p in ps]
        if model == "mlp":
            ens, _, _ = train_mlp_arms(data, int(h), arms, runs, recipe)
            acc = ens.accuracy(data.x_test, data.y_test).reshape(len(arms), runs).cpu().numpy()
        else:
            acc = np.array([[train_conv_arm(data, model, h, arm, recipe.seed + r, recipe)
                             for r in range(runs)] for arm in arms])
        records += [dict(width=h, method=m, density=p, run=recipe.seed + r, acc=float(a))
                    for (m, p), row in zip(arms, acc, strict=True) for r, a in enumerate(row)]
    return pd.DataFrame(records)
