"""Data sets that ship with installed packages: no download, same split everywhere."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor


class TensorSplit(NamedTuple):
    """A fixed train/test split as tensors: x (n, d) float32, y (n,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def train(self) -> tuple[Tensor, Tensor]:
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[Tensor, Tensor]:
        return self.x_test, self.y_test

    def to(self, device: torch.device | str) -> TensorSplit:
        return TensorSplit(*(t.to(device) for t in self))


def digits(test_size: float = 0.25, split_seed: int = 0, device: torch.device | str = "cpu") -> TensorSplit:
    """scikit-learn's 8×8 digits (1797 images, 10 classes), pixels scaled to [0, 1], stratified split.

    The split depends only on `split_seed` (fixed by default), so every notebook sees the same test set.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x.astype(np.float32) / 16.0, y, test_size=test_size,
                                              random_state=split_seed, stratify=y)
    return TensorSplit(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(), torch.from_numpy(x_te),
                       torch.from_numpy(y_te).long()).to(device)
