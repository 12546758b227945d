"""Optimizers as torch.optim.Optimizer classes or wrappers: mirror-map, sparsity-aware and game optimizers."""
