"""Notebook parameters of `horst` (Jacobs, Jain & Burkholz, HiLD @ ICML 2026, arXiv 2605.21104).

Quick scale: sklearn digits read as 8 row tokens plus a class token, a 2-layer tiny transformer
(`relml.models.transformer.TinyTransformer`), gradual magnitude pruning of all linear weights to each
target sparsity, AdamW vs HORST, every (sparsity, seed) pair a member of one stacked ensemble per arm.
Paper scale: the HORST note's setting on the same data (d = 32, 4 heads, 20 epochs). The paper's own
ViT / GPT-2 runs (ImageNet, CIFAR, OpenWebText) need models, data and configurations we could not
confirm (the paper's body was not available to us), so they are not reproduced.
"""

from relml.notebook import Param, integer, real, sequence

PARAMS = {
    "DIM": Param(16, 32, integer(1), "transformer width d"),
    "HEADS": Param(2, 4, integer(1), "attention heads (d must be divisible by it)"),
    "LAYERS": Param(2, 2, integer(1), "transformer blocks"),
    "MLP_RATIO": Param(2, 2, integer(1), "hidden width of the blocks' MLPs, in units of d"),
    "EPOCHS": Param(8, 20, integer(2), "training epochs (cosine learning rate to 0)"),
    "LR": Param(1e-2, 1e-2, real(0.0, lo_open=True), "AdamW / HORST learning rate"),
    "WEIGHT_DECAY": Param(0.05, 0.05, real(0.0), "decoupled weight decay (both arms)"),
    "BATCH_SIZE": Param(128, 128, integer(1), "mini-batch size"),
    "ALPHA": Param(100.0, 100.0, real(0.0, lo_open=True), "HORST's α (mirror-step coupling)"),
    "BETA": Param(1e-3, 1e-3, real(0.0), "HORST's β (constant decay of the mirror step)"),
    "SPARSITIES": Param((0.5, 0.8, 0.9, 0.95), (0.5, 0.8, 0.9, 0.95),
                        sequence(real(0.0, 1.0, hi_open=True), 2), "final sparsities of gradual pruning"),
    "PRUNE_END": Param(0.7, 0.7, real(0.0, 1.0, lo_open=True),
                       "pruning runs from the end of epoch 1 to this fraction of training"),
    "SEEDS": Param(3, 3, integer(1), "independent runs per (arm, sparsity): SEED, SEED+1, ..."),
}
