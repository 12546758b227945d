"""Notebook parameters of `ham` (Jacobs, Gadhikar, Rubio-Madrigal & Burkholz, ICLR 2026).

Quick scale: (a) underdetermined sparse regression n = 40 < d = 200, 5-sparse truth, GD vs GD + HAM vs
m ⊙ w; (b) the sklearn digits MLP 64-h-h-10 with a random 90% mask and with gradual magnitude pruning
to 95%, SGD vs SGD + HAM at two α, every arm and seed trained as one stacked ensemble. Paper scale: the
official wrapper's defaults (α = 200, β = 10⁻³, SGD with momentum 0.9) on the same two experiments at
larger sizes; the paper's ImageNet / ResNet-50 runs need a conv model and data that relml does not
have, so they are not reproduced (the notebook cites their numbers).
"""

from relml.notebook import Param, integer, real, sequence

PARAMS = {
    # (a) sparse regression
    "N": Param(40, 40, integer(1), "samples of the regression (n < d)"),
    "D": Param(200, 200, integer(2), "dimension of θ"),
    "K": Param(5, 5, integer(1), "nonzeros of the true θ*"),
    "REG_STEPS": Param(600, 5000, integer(10), "gradient steps on the regression"),
    "REG_LR": Param(0.01, 0.01, real(0.0, lo_open=True), "step size η of GD, GD + HAM and m ⊙ w"),
    "REG_ALPHA": Param(100.0, 100.0, real(0.0, lo_open=True),
                       "HAM's α on the regression (β = 0: the pure implicit bias)"),
    "TOL": Param(1e-6, 1e-6, real(0.0, lo_open=True), "training loss that counts as interpolation"),
    # (b) sparse digits MLP
    "HIDDEN": Param(128, 512, integer(1), "hidden width h of the MLP 64-h-h-10"),
    "EPOCHS": Param(15, 100, integer(1), "training epochs (cosine learning rate to 0)"),
    "LR": Param(0.05, 0.05, real(0.0, lo_open=True), "SGD learning rate (momentum 0.9)"),
    "WEIGHT_DECAY": Param(5e-4, 5e-4, real(0.0), "SGD weight decay"),
    "BATCH_SIZE": Param(128, 128, integer(1), "mini-batch size"),
    "HAM_ALPHAS": Param((5.0, 20.0), (5.0, 20.0), sequence(real(0.0, lo_open=True), 1),
                        "HAM's α for the MLP arms (lr·α = 0.25, 1; the official α = 200 diverges at lr "
                        "0.05 here: the tiny MLP's per-weight gradients are far larger than a ResNet's)"),
    "HAM_BETA": Param(1e-3, 1e-3, real(0.0), "HAM's β (official default)"),
    "MASK_DENSITY": Param(0.1, 0.1, real(0.0, 1.0, lo_open=True), "density of the random mask (90% sparse)"),
    "GMP_SPARSITY": Param(0.95, 0.95, real(0.0, 1.0, hi_open=True), "final sparsity of gradual pruning"),
    "SEEDS": Param(3, 3, integer(1), "independent runs per arm: SEED, SEED+1, ..."),
}
