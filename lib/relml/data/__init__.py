"""Data sets: bundled and synthetic ones for the quick scale, loaders for paper-scale files.

The graph loaders (`relml.data.graphs`) import torch_geometric, which takes seconds: they are
loaded on first use of one of their names, so notebooks without graphs do not pay for it.
"""

from importlib import import_module
from typing import Any

from relml.data.bundled import TensorSplit, digits
from relml.data.files import DataMissing, data_root, load_cifar
from relml.data.synthetic import gaussian_mixture, sparse_regression

GRAPHS = ("contextual_sbm", "erdos_renyi_graph", "load_heterophilous", "load_planetoid",
          "random_split_masks", "row_normalize", "sbm", "sbm_edges", "undirected")

__all__ = ["DataMissing", "TensorSplit", "data_root", "digits", "gaussian_mixture", "load_cifar",
           "sparse_regression", *GRAPHS]


def __getattr__(name: str) -> Any:
    if name in GRAPHS:
        return getattr(import_module("relml.data.graphs"), name)
    raise AttributeError(f"module 'relml.data' has no attribute {name!r}")
