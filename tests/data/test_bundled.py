import torch

from relml.data import digits


def test_digits_split_is_fixed_stratified_and_scaled():
    a, b = digits(), digits()
    assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))
    assert a.x_train.shape == (1347, 64) and a.x_test.shape == (450, 64)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert float(a.x_train.min()) >= 0.0 and float(a.x_train.max()) <= 1.0
    assert torch.bincount(a.y_test).min() >= 43  # every class in the test set
