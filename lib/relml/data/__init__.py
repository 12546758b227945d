"""Data sets: bundled and synthetic ones for the quick scale, loaders for paper-scale files."""

from relml.data.bundled import TensorSplit, digits
from relml.data.files import DataMissing, data_root, load_cifar
from relml.data.synthetic import gaussian_mixture, sparse_regression

__all__ = ["DataMissing", "TensorSplit", "data_root", "digits", "gaussian_mixture", "load_cifar",
           "sparse_regression"]
