"""Notebook parameters of `lrr_signs` (Gadhikar & Burkholz, "Masks, Signs, and Learning Rate Rewinding",
ICLR 2024).

Quick scale: sklearn digits, MLP 64-h-h-10 with batch normalisation (the BN of the paper's ResNets), all
seeds as members of one `EnsembleMLP`. Paper scale: the official code's CIFAR setting (AdvaitGadhikar/
imp-lrr-lts: ResNet-18, SGD with momentum 0.9, lr 0.1, weight decay 1e-4, batch 256, a 10-epoch linear
warmup that IMP rewinds to, a cosine schedule per round, 20% of the remaining weights pruned per round);
the number of epochs per round and of rounds per data set are the paper's appendix values as far as we
could confirm (verify: 150 epochs per round, 20 rounds ≈ 1.2% density). At SCALE="paper" the notebook
trains `relml.models.convnets` ResNet-18 on the CIFAR files that `relml.data.load_cifar` finds in
data/cache (or $RELML_DATA) and stops naming them when absent.
"""

from relml.notebook import Param, choice, integer, real

PARAMS = {
    "DATASET": Param("digits", "cifar10", choice("digits", "cifar10", "cifar100"),
                     "data set: sklearn digits (quick) or CIFAR-10/100 (paper; relml.data.load_cifar)"),
    "MODEL": Param("mlp", "resnet18", choice("mlp", "resnet18", "vgg16"),
                   "network: MLP 64-h-h-10 with BN (quick) or the paper's ResNet-18"),
    "WIDTH": Param(128, 1, real(0.0, lo_open=True),
                   "hidden width h of the MLP, or the ResNet width multiplier"),
    "ROUNDS": Param(14, 20, integer(1), "pruning rounds after the dense cycle (density 0.8^ROUNDS)"),
    "PRUNE_RATE": Param(0.2, 0.2, real(0.0, 1.0, lo_open=True, hi_open=True),
                        "fraction of the remaining weights pruned per round (global magnitude)"),
    "EPOCHS": Param(4, 150, integer(1), "epochs per round (one cosine cycle each)"),
    "PRETRAIN_EPOCHS": Param(1, 10, integer(0), "dense warmup epochs before the first round; IMP rewinds to "
                             "this point θ_k (official code: --warmup-epochs 10)"),
    "LR": Param(0.1, 0.1, real(0.0, lo_open=True), "peak learning rate of every cycle (SGD, momentum 0.9)"),
    "WEIGHT_DECAY": Param(1e-4, 1e-4, real(0.0), "L2 weight decay"),
    "BATCH_SIZE": Param(128, 256, integer(1), "mini-batch size"),
    "SEEDS": Param(3, 3, integer(1), "independent runs per arm: SEED, SEED+1, ..."),
    "NEURON_DIM": Param(10, 10, integer(2), "input dimension d of the single-neuron experiment (Sec. 2.2)"),
    "NEURON_RUNS": Param(256, 4096, integer(1), "random initialisations of the single-neuron experiment"),
    "NEURON_STEPS": Param(1500, 20000, integer(1), "gradient-descent steps per training phase (≈ gradient "
                          "flow for a small step)"),
    "NEURON_LR": Param(0.5, 0.05, real(0.0, lo_open=True), "gradient-descent step of the single neuron"),
    "NEURON_SAMPLES": Param(100, 100, integer(1), "training points x ~ U[-1, 1]^d (paper: n = 100)"),
}
