"""What the pruning experiments train and measure: a model family on a data split (`Testbed`).

Quick scale: an `relml.models.EnsembleMLP` with one member per seed (optionally with batch norm, the BN of
the papers' ResNets) on sklearn digits. Paper scale: one CIFAR ResNet-18 / VGG-16 per seed
(`relml.models.convnets`) with the standard augmentation (`relml.data.augment.AugmentedBatches`); CIFAR
comes from `relml.data.load_cifar`, which raises `relml.data.DataMissing` when the files are absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.data import TensorSplit, digits, load_cifar
from relml.data.augment import AugmentedBatches
from relml.models import EnsembleMLP
from relml.models.convnets import conv_net
from relml.sparse.iterative import Cycle
from relml.sparse.masks import layer_densities

__all__ = ["MODELS", "Testbed", "load_testbed"]

MODELS = ("mlp", "resnet18", "vgg16")
LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Testbed:
    """What every arm trains and measures: a model family on a data split.

    model: "mlp" (an `EnsembleMLP` d_in-width-width-classes, one member per seed) or "resnet18" /
    "vgg16" (`relml.models.convnets`, width multiplier `width`, one network per seed, CIFAR
    augmentation when `augment`). allocation: how a random mask spreads its density over the layers
    ("erk", "uniform", "balanced", "pyramidal"; see `relml.sparse.masks`). norm: batch norm in the MLP.
    """

    data: TensorSplit
    model: str = "mlp"
    width: float = 256
    allocation: str = "erk"
    augment: bool = False
    device: torch.device | str = "cpu"
    norm: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model={self.model!r}: pass one of {', '.join(map(repr, MODELS))}")
        if not self.width > 0:
            raise ValueError(f"width={self.width!r}: pass a positive width (multiplier)")
        layer_densities(self.allocation, [(2, 2)], 0.5)  # validates the allocation's name

    @property
    def stacked(self) -> bool:
        return self.model == "mlp"

    @property
    def classes(self) -> int:
        return int(self.data.y_train.max()) + 1

    def groups(self, seeds: Sequence[int]) -> list[list[int]]:
        """The seeds each network holds: all of them in one ensemble, or one per network."""
        seeds = [int(s) for s in seeds]
        return [seeds] if self.stacked else [[s] for s in seeds]

    def make(self, held: Sequence[int]) -> nn.Module:
        """A freshly initialised network for the seeds `held` (one of `groups`); the same seeds give the same
        weights on every call: an ensemble initialised from a generator seeded with the first, or a conv net
        drawn from torch's global generator seeded with its seed."""
        if self.stacked:
            gen = torch.Generator().manual_seed(int(held[0]))
            sizes = [self.data.x_train.shape[1], int(self.width), int(self.width), self.classes]
            return EnsembleMLP(sizes, len(held), generator=gen, norm=self.norm).to(self.device)
        torch.manual_seed(int(held[0]))
        return conv_net(self.model, self.classes, self.width).to(self.device)

    def build(self, seeds: Sequence[int]) -> Iterator[tuple[nn.Module, list[int]]]:
        """The networks to train (built one at a time) and the seeds each holds (`groups`, `make`)."""
        for held in self.groups(seeds):
            yield self.make(held), held

    def batches(self, cycle: Cycle, seed: int) -> tuple[Tensor, Tensor] | AugmentedBatches:
        """The training data as `prune_cycles` takes it: the tensor pair, or augmented CIFAR batches."""
        if self.augment:
            return AugmentedBatches(self.data.x_train, self.data.y_train, cycle.batch_size, seed=seed,
                                    device=self.device)
        return self.data.x_train, self.data.y_train

    @staticmethod
    def loss_fn(model: nn.Module) -> LossFn:
        """The training loss: the ensemble's sum of per-member cross-entropies, or the cross-entropy."""
        return model.loss if isinstance(model, EnsembleMLP) else F.cross_entropy


def load_testbed(dataset: str, model: str, width: float, allocation: str = "erk",
                 device: torch.device | str = "cpu") -> Testbed:
    """The quick testbed (dataset "digits" with model "mlp") or the paper's (CIFAR-10/100 with a ResNet-18 /
    VGG-16 and the standard augmentation). CIFAR comes from `relml.data.load_cifar`, which raises
    `relml.data.DataMissing` naming the files and where to put them when they are absent."""
    if dataset not in ("digits", "cifar10", "cifar100"):
        raise ValueError(f"dataset={dataset!r}: pass 'digits', 'cifar10' or 'cifar100'")
    if (model == "mlp") != (dataset == "digits"):
        raise ValueError(f"model={model!r} with dataset={dataset!r}: the MLP runs on digits, "
                         "ResNet-18 / VGG-16 on CIFAR-10/100")
    if dataset == "digits":
        return Testbed(digits(device=device), "mlp", width, allocation, augment=False, device=device)
    return Testbed(TensorSplit(*load_cifar(dataset)), model, width, allocation, augment=True, device=device)
