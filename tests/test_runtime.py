import random

import numpy as np
import pytest
import torch

from relml.runtime import resolve_device, seed_everything, set_threads


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
