"""Notebook parameters of `sculpt` (Gadhikar, Nelaturu & Burkholz, "Cyclic Sparse Training: Is it Enough?").

Quick scale: sklearn digits, an MLP 64-128-128-10 whose seeds train as the members of one `EnsembleMLP`,
SGD with momentum 0.9, every cycle a cosine schedule of 8 epochs, 50% of the remaining weights pruned per
IMP/LRR round (so the densities 1, 1/2, 1/4, … reach 87.5% sparsity in 4 cycles and 96.9% in 6).
Paper scale: ResNet-18 on CIFAR-10 (`relml.data.load_cifar`, which stops naming the files when they are
absent) with the standard augmentation, SGD with momentum 0.9, 150-epoch cycles and 20% pruned per round.
The paper's text we could read (the abstract) confirms the arms and the SCULPT recipe only in words:
cyclic training of a sparse mask, one magnitude prune, retraining. The exact number of cycles, SCULPT's
starting sparsity, the learning-rate schedule, weight decay, batch size and IMP's rewind point are not
confirmed: the paper-scale values below are the usual CIFAR LRR/IMP setting, marked "(not confirmed)".
"""

from relml.notebook import Param, choice, integer, real

_DENSITY = real(0.0, 1.0, lo_open=True)

PARAMS = {
    "DATASET": Param("digits", "cifar10", choice("digits", "cifar10", "cifar100"),
                     "sklearn digits (quick) or CIFAR-10/100 (paper; load_cifar reads data/cache)"),
    "MODEL": Param("mlp", "resnet18", choice("mlp", "resnet18", "vgg16"),
                   "MLP 64-w-w-10 (quick; seeds as EnsembleMLP members) or a CIFAR ResNet-18 / VGG-16"),
    "WIDTH": Param(128, 1.0, real(0.0, lo_open=True), "MLP hidden width, or the conv net's width multiplier"),
    "ALLOCATION": Param("erk", "erk", choice("erk", "uniform", "balanced", "pyramidal"),
                        "how a random (ER) PaI mask spreads its density over layers (ERK: not confirmed)"),
    "MODERATE_DENSITY": Param(0.125, 0.8**10, _DENSITY,
                              "density of the cyclic-vs-one-cycle comparison (claims 1, 2): quick 87.5%, "
                              "paper 89.3% sparsity, where IMP/LRR arrive after 3 resp. 10 rounds"),
    "HIGH_DENSITY": Param(1 / 32, 0.02, _DENSITY,
                          "the high-sparsity target of claims 3 and 4 (quick 96.9%, paper 98% sparsity)"),
    "PRUNE_RATE": Param(0.5, 0.2, real(0.0, 1.0, lo_open=True, hi_open=True),
                        "fraction of the remaining weights IMP/LRR prune per round (paper: the usual 20%); "
                        "cyclic arms get as many cycles as IMP needs to reach their density"),
    "SCULPT_DENSITY": Param(0.25, 0.2, _DENSITY,
                            "SCULPT's moderate starting density p0 (not confirmed)"),
    "SCULPT_CYCLES": Param(4, 5, integer(1), "cycles at p0 before SCULPT's single prune (not confirmed)"),
    "EPOCHS": Param(8, 150, integer(1),
                    "epochs of one cycle (paper: 150, the CIFAR LRR setting, not confirmed)"),
    "LR": Param(0.2, 0.1, real(0.0, lo_open=True), "peak learning rate of every cycle (SGD, momentum 0.9)"),
    "MOMENTUM": Param(0.9, 0.9, real(0.0, 1.0, hi_open=True), "SGD momentum, reset every cycle in every arm"),
    "WEIGHT_DECAY": Param(0.0, 5e-4, real(0.0), "L2 weight decay (paper value not confirmed)"),
    "WARMUP_EPOCHS": Param(0, 0, integer(0), "linear LR warmup at the start of each cycle, then cosine to 0"),
    "BATCH_SIZE": Param(128, 128, integer(1), "mini-batch size (paper value not confirmed)"),
    "IMP_REWIND_EPOCHS": Param(0, 10, integer(0),
                               "IMP rewinds to the weights after this many dense epochs (0: to θ_0); paper: "
                               "an early rewind point, value not confirmed (budget counted)"),
    "TOLERANCE": Param(0.01, 0.005, real(0.0),
                       "'matches': mean test accuracy within this of LRR's (quick: about the binomial "
                       "standard error of one run's accuracy on the 450 test digits; paper: on 10,000 "
                       "CIFAR images)"),
    "SEEDS": Param(5, 3, integer(1), "independent runs (init + mask) of every arm: SEED, SEED+1, ..."),
}
