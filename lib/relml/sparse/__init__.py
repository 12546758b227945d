"""Sparse networks: random (ER) masks and layer-wise density ratios (more to come: IMP, LRR, ...)."""

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

__all__ = ["ALLOCATORS", "MaskCallback", "allocated_density", "balanced_densities", "check_density",
           "density_table", "erk_densities", "layer_densities", "mask_density", "maskable_weights",
           "pyramidal_densities", "pyramidal_root", "random_masks", "uniform_densities"]
