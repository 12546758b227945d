import pickle

import numpy as np
import pytest

from relml.data import DataMissing, load_cifar


def write_fake_cifar10(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)


def test_missing_files_name_themselves_and_where_to_put_them(tmp_path):
    with pytest.raises(DataMissing, match=r"data_batch_1.*test_batch.*cifar-10-python\.tar\.gz"):
        load_cifar("cifar10", root=tmp_path)


def test_cifar_batches_load_as_normalized_tensors(tmp_path, monkeypatch):
    write_fake_cifar10(tmp_path)
    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    x_tr, y_tr, x_te, y_te = load_cifar("cifar10")
    assert x_tr.shape == (20, 3, 32, 32) and x_te.shape == (4, 3, 32, 32)
    assert y_tr.tolist()[:4] == [0, 1, 2, 3]
    raw = load_cifar("cifar10", normalize=False)[0]
    assert float(raw.min()) >= 0.0 and float(raw.max()) <= 1.0


def test_unknown_variant():
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        load_cifar("cifar11")
