"""Notebook parameters of `random_pruning` (Gadhikar, Mukherjee & Burkholz, ICML 2023).

Quick scale: sklearn digits, MLP 64-h-h-10, Adam, all seeds × arms of one width trained as one
`EnsembleMLP`. Paper scale: the paper's CIFAR-10 setting (ResNet-18 / VGG-16, SGD with momentum,
lr 0.1, cosine schedule), values from the official code's example commands and configs
(RelationalML/sparse_to_sparse, `STR/`); the per-run values of the paper's appendix are not confirmed.
At SCALE="paper" the notebook trains `relml.models.convnets` ResNet-18 on the CIFAR files that
`relml.data.load_cifar` finds in data/cache (or $RELML_DATA), and stops naming them when absent.
"""

from relml.notebook import Param, boolean, choice, integer, real, sequence

METHOD_NAMES = ("uniform", "erk", "balanced", "pyramidal")

PARAMS = {
    "DATASET": Param("digits", "cifar10", choice("digits", "cifar10", "cifar100"),
                     "data set: sklearn digits (quick) or CIFAR-10/100 (paper; relml.data.load_cifar)"),
    "MODEL": Param("mlp", "resnet18", choice("mlp", "resnet18", "vgg16"),
                   "source network: MLP 64-h-h-10 (quick) or the paper's ResNet-18 / VGG-16"),
    "WIDTHS": Param((128, 256, 512), (1, 2, 4), sequence(integer(1), 2),
                    "hidden width h of the MLP for the width study (paper: ResNet-18 width multipliers, "
                    "the code's `--width` option; which multipliers the paper used is not confirmed)"),
    "SWEEP_WIDTH": Param(256, 1, integer(1), "width of the density sweep (every method × density)"),
    "DENSITIES": Param((0.5, 0.2, 0.1, 0.05, 0.02), (0.5, 0.2, 0.1, 0.05, 0.02, 0.01),
                       sequence(real(0.0, 1.0, lo_open=True), 2),
                       "global densities (fraction of weights kept), highest first; the last one is "
                       "'the highest sparsity' of claims (b) and (c)"),
    "METHODS": Param(METHOD_NAMES, METHOD_NAMES, sequence(choice(*METHOD_NAMES), 1),
                     "layer-wise density ratios of the ER masks"),
    "ER_INIT": Param(True, True, boolean(),
                     "He init scaled by 1/sqrt(layer density), the code's ER_init: keeps the signal "
                     "variance of a random sparse layer"),
    "OPTIMIZER": Param("adam", "sgd", choice("adam", "sgd"),
                       "Adam (quick) or SGD with momentum 0.9 and a cosine schedule (paper)"),
    "EPOCHS": Param(6, 150, integer(1), "training epochs (paper: the STR code's random-ER runs)"),
    "LR": Param(5e-3, 0.1, real(0.0, lo_open=True), "learning rate"),
    "WEIGHT_DECAY": Param(0.0, 5e-4, real(0.0), "L2 weight decay (paper value not confirmed)"),
    "BATCH_SIZE": Param(128, 256, integer(1), "mini-batch size"),
    "SEEDS": Param(3, 3, integer(1), "independent runs (init + mask) per arm: SEED, SEED+1, ..."),
}
