"""Notebook parameters of `dash` (Hossain, Fischer, Burkholz, Quackenbush, NeurIPS 2024, arXiv 2403.04805).

Paper scale is the official simulation configuration (`QuackenbushLab/DASH`, `ode_net/code/config_simu.cfg`
and `train_DASH_simu.py`): PHOENIX with 40 hidden units, Adam (lr 1e-3, gene multipliers 5×), one trajectory
per step, 200 epochs, a first prune of 70% before epoch 3 and 10% before every 10th epoch, λ = 0.05 (input
layers) and 0.01 (output layers), trained on the authors' 150 simulated trajectories (`load_sim350_train`,
not shipped). Quick scale trains on the 10 shipped trajectories for 40 epochs and prunes every 2 epochs, so
the same 19 prunes reach the same final density (0.3 · 0.9^18 ≈ 4.5% of each layer). The integrator is a
numerical choice, not DASH's: the paper uses adaptive dopri5 (torchdiffeq); we take fixed steps, exponential
Euler (exact for PHOENIX's decay term, one evaluation per interval) at quick scale and RK4 at paper scale.
"""

from relml.bio.grn import NOISE_LEVELS, SOLVERS
from relml.notebook import Param, choice, integer, real, sequence

PARAMS = {
    "SEEDS": Param(3, 5, integer(1, 100), "runs (init, split and batch order): SEED, SEED+1, ..."),
    "TRAIN_SET": Param("shipped", "paper150", choice("shipped", "paper150"),
                       "'shipped': the 10 vendored trajectories (split into train/validation); 'paper150': "
                       "the authors' 150 training trajectories (data/cache/dash_grn/, not shipped)"),
    "N_VAL": Param(2, 10, integer(1, 1000), "validation trajectories (official: 6.6% of 150 ≈ 10)"),
    "HIDDEN": Param(40, 40, integer(1, 4096), "PHOENIX hidden width h (official 40)"),
    "EPOCHS": Param(40, 200, integer(2, 100_000), "training epochs (official 200)"),
    "BATCH": Param(4, 9, integer(1, 100_000),
                   "transitions per Adam step: one trajectory's (4 of the shipped, 9 of the paper's)"),
    "LR": Param(1e-3, 1e-3, real(0, 1, lo_open=True), "Adam learning rate (gene multipliers 5×), reset after "
                                                        "each prune"),
    "PRUNE_START": Param(3, 3, integer(2, 100_000), "the first prune happens before this (1-based) epoch"),
    "PRUNE_EVERY": Param(2, 10, integer(1, 100_000), "later prunes before every epoch divisible by this"),
    "FIRST_PRUNE": Param(0.7, 0.7, real(0, 1, hi_open=True), "fraction of each layer pruned first"),
    "PRUNE_AMOUNT": Param(0.1, 0.1, real(0, 1, hi_open=True), "fraction of the rest pruned later"),
    "LAMBDA_IN": Param(0.05, 0.05, real(0, 1), "λ of the input layers W_s, W_p (official simulation 0.05)"),
    "LAMBDA_OUT": Param(0.01, 0.01, real(0, 1), "λ of the output layers A_s, A_p (official simulation 0.01)"),
    "PRIOR_NOISE": Param(0.025, 0.025, choice(*NOISE_LEVELS),
                         "prior noise of the headline comparison (official config 0.025)"),
    "NOISE_LEVELS": Param(NOISE_LEVELS, NOISE_LEVELS, sequence(choice(*NOISE_LEVELS), 2),
                          "prior noise levels of the robustness sweep (the four shipped priors)"),
    "L1_COEF": Param(3e-4, 3e-4, real(0, 1, lo_open=True),
                     "L1 baseline: λ_L1 in MSE + λ_L1 Σ|W| (ours: the best validation MSE of 1e-6..1e-3, "
                     "seeds 0-1)"),
    "SOLVER": Param("expeuler", "rk4", choice(*SOLVERS), "fixed-step integrator over each observed interval"),
    "STEPS": Param(1, 4, integer(1, 1000), "integrator steps per observed interval"),
    "RIDGE": Param(1e-6, 1e-6, real(0, 1), "ridge ρ·tr(SSᵀ)/h added to SSᵀ in P̂ (0 = the paper's formula)"),
}
