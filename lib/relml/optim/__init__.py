"""Optimizers as torch.optim.Optimizer classes or wrappers: mirror-map, sparsity-aware and game optimizers."""

from relml.optim.ham import HAM as HAM
from relml.optim.horst import HORST as HORST
from relml.optim.lookahead import LookAhead as LookAhead
from relml.optim.lookahead import ModalLookAhead as ModalLookAhead
from relml.optim.pilot import PILoT as PILoT
