"""Loaders for paper-scale data sets stored as files under data/cache/ (or $RELML_DATA).

Nothing is downloaded at run time: when the files are absent, `DataMissing` names each file and
where to put it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

REPO = Path(__file__).resolve().parents[3]

CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}
CIFAR_MEAN = {"cifar10": (0.4914, 0.4822, 0.4465), "cifar100": (0.5071, 0.4865, 0.4409)}
CIFAR_STD = {"cifar10": (0.2470, 0.2435, 0.2616), "cifar100": (0.2673, 0.2564, 0.2762)}


class DataMissing(FileNotFoundError):
    """A paper-scale data set is not on disk; the message says which files and where."""


def data_root() -> Path:
    """$RELML_DATA when set, else data/cache/ in the repository."""
    env = os.environ.get("RELML_DATA")
    return Path(env) if env else REPO / "data" / "cache"


def require(folder: Path, files: list[str], how: str) -> None:
    """Raise DataMissing listing the absent `files` of `folder` and how to get them."""
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise DataMissing(f"missing {', '.join(missing)} in {folder}; {how} "
                          "(or set RELML_DATA to the folder that holds it)")


def load_cifar(name: str = "cifar10", root: str | Path | None = None, normalize: bool = True
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CIFAR-10/100 from the standard python-pickle batches: x (n, 3, 32, 32) float32, y (n,) int64.

    Returns (x_train, y_train, x_test, y_test), normalized with the usual per-channel statistics.
    """
    if name not in CIFAR:
        raise ValueError(f"unknown CIFAR variant {name!r}; use one of {', '.join(CIFAR)}")
    sub, train_files, test_files, label_key, url = CIFAR[name]
    folder = Path(root) if root is not None else data_root()
    folder = folder / sub
    require(folder, train_files + test_files, f"download {url} and unpack it into {folder.parent}")

    def read(files: list[str]) -> tuple[Tensor, Tensor]:
        xs, ys = [], []
        for f in files:
            with open(folder / f, "rb") as fh:
                batch = pickle.load(fh, encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        x = torch.from_numpy(np.concatenate(xs)).float() / 255.0
        if normalize:
            mean = torch.tensor(CIFAR_MEAN[name]).view(1, 3, 1, 1)
            std = torch.tensor(CIFAR_STD[name]).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x, torch.from_numpy(np.concatenate(ys))

    return (*read(train_files), *read(test_files))
