import random
import time

import numpy as np
import pytest
import torch

from relml.runtime import best_time, resolve_device, seed_everything, set_threads


def test_same_seed_same_numbers_everywhere():
    def draw():
        g = seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()  # noqa: NPY002

    assert draw() == draw()
    with pytest.raises(ValueError, match="non-negative"):
        seed_everything(-1)


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="'auto', 'cpu'"):
        resolve_device("tpu")


def test_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("RELML_THREADS", "1")
    assert set_threads() == 1
    assert set_threads(before) == before
    with pytest.raises(ValueError):
        set_threads(0)


def test_best_time_takes_the_fastest_call_and_stops_at_the_budget():
    calls = []

    def fn() -> None:
        calls.append(1)
        time.sleep(0.02 if len(calls) == 1 else 0.0)

    assert best_time(fn, repeats=3) < 0.015 and len(calls) == 3
    calls.clear()
    best_time(fn, repeats=5, budget_s=0.01)  # the first call alone spends the budget
    assert len(calls) == 1
    with pytest.raises(ValueError, match="repeat"):
        best_time(fn, repeats=0)
