"""Mini-batches with the standard CIFAR augmentation (random 4-pixel-padded crop, horizontal flip),
vectorized over the batch, reshuffled every epoch: an iterable that `relml.train.fit` accepts."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_flip(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """x (b, c, h, w) → each image shifted by up to `pad` pixels (zero fill) and flipped with prob. 1/2."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # (b, h)
    cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)  # (b, w)
    idx = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


class AugmentedBatches:
    """Shuffled, augmented batches of (x (n, c, h, w), y (n,)) on `device`, new order every epoch."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        if x.ndim != 4 or len(x) != len(y):
            raise ValueError(f"pass images (n, c, h, w) and labels (n,), "
                             f"got {tuple(x.shape)} and {tuple(y.shape)}")
        self.x, self.y, self.batch_size, self.device = x, y, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            xb = self.x[idx].to(self.device, non_blocking=True)
            yield random_crop_flip(xb, self.generator), self.y[idx].to(self.device, non_blocking=True)
