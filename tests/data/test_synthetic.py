import pytest
import torch

from relml.data import gaussian_mixture, sparse_regression


def test_sparse_regression_has_a_k_sparse_exact_solution():
    x, y, theta = sparse_regression(20, 50, 4, seed=3)
    assert int((theta != 0).sum()) == 4 and torch.allclose(x @ theta, y)
    assert torch.equal(sparse_regression(20, 50, 4, seed=3).y, y)
    with pytest.raises(ValueError, match="k <= d"):
        sparse_regression(20, 5, 6)


def test_gaussian_mixture_is_balanced_and_separable():
    x, y = gaussian_mixture(600, 4, 3, separation=8.0, seed=0)
    assert x.shape == (600, 4) and torch.bincount(y).tolist() == [200, 200, 200]
    means = torch.stack([x[y == c].mean(0) for c in range(3)])
    assert torch.cdist(means, means).fill_diagonal_(1e9).min() > 4.0
