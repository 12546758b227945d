"""Optimizers as torch.optim.Optimizer classes or wrappers: mirror-map, sparsity-aware and game optimizers."""

from relml.optim.lookahead import LookAhead as LookAhead
from relml.optim.lookahead import ModalLookAhead as ModalLookAhead
