"""Sparse networks: random (ER) masks and layer-wise density ratios (`masks`), gradual and one-shot
magnitude pruning (`gradual`, `oneshot`), train–prune cycles for IMP, LRR, cyclic training and SCULPT-ing
(`iterative`), mask and sign metrics (`metrics`), and the papers' experiments built on them (`er_training`,
`lrr`, `single_neuron`, `cyclic`)."""

from relml.sparse.iterative import Cycle, PruneRun, imp_densities, prune_cycles
from relml.sparse.masks import (
    ALLOCATORS,
    MaskCallback,
    allocated_density,
    balanced_densities,
    check_density,
    density_table,
    erk_densities,
    layer_densities,
    mask_density,
    maskable_weights,
    pyramidal_densities,
    pyramidal_root,
    random_masks,
    uniform_densities,
)
from relml.sparse.metrics import layer_densities_of, mask_overlap, sign_flip_fraction

__all__ = ["ALLOCATORS", "Cycle", "MaskCallback", "PruneRun", "allocated_density", "balanced_densities",
           "check_density", "density_table", "erk_densities", "imp_densities", "layer_densities",
           "layer_densities_of", "mask_density", "mask_overlap", "maskable_weights", "prune_cycles",
           "pyramidal_densities", "pyramidal_root", "random_masks", "sign_flip_fraction", "uniform_densities"]
