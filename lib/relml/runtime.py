"""Seeds, devices and threads: the one place each is decided."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python's `random`, numpy and torch (CPU and CUDA); return a torch generator seeded alike."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 (notebooks may use the global RNG)
    torch.manual_seed(int(seed))
    return torch.Generator().manual_seed(int(seed))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' → the first CUDA GPU when one is present, else the CPU; 'cuda' without a GPU is an error."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"DEVICE={device!r} but no CUDA GPU is visible; use DEVICE='auto' or 'cpu'")
        return torch.device(device)
    raise ValueError(f"DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: the argument, else $RELML_THREADS, else torch's default."""
    if threads is None:
        env = os.environ.get("RELML_THREADS")
        threads = int(env) if env else None
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def best_time(fn: Callable[[], object], repeats: int = 3, budget_s: float = math.inf) -> float:
    """The fastest wall-clock time of up to `repeats` calls of fn(), in seconds, stopping early once
    `budget_s` seconds were spent (background load only ever adds time, so the minimum is the least
    biased estimate)."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: pass at least one repeat")
    best, spent = math.inf, 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent >= budget_s:
            break
    return best
