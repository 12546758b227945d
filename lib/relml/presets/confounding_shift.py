"""Notebook parameters of `confounding_shift` (Reddy, Rubio-Madrigal, Burkholz, Muandet, ICLR 2026).

Paper scale is the configuration of the paper's synthetic studies (official code, `synthetic/
introfigure.py` and `synthetic/varyingS.py`): 250 samples per domain, training domains U ~ N(±2, 0.5²),
held-out domains N(0, 0.5²) and N(4, 0.5²), 0..20 proxies, IRM λ = 1, V-REx λ = 1, GroupDRO η = 0.01,
2000 iterations. Quick scale keeps all of that and only trains fewer steps on a coarser proxy grid over
fewer seeds. All four methods share one Adam loop started from the ERM solution (the paper's code runs
plain gradient descent from a random start, 2000 steps of 1e-3 for IRM and GroupDRO, 5000 of 1e-2 for
V-REx, which leaves the baselines short of their optima).
"""

from relml.notebook import Param, integer, real, sequence

PARAMS = {
    "SEEDS": Param(5, 10, integer(1, 1000), "seeds SEED, SEED+1, ... (the paper's code draws one data set)"),
    "N_PER_ENV": Param(250, 250, integer(10, 1_000_000), "samples per environment, training and held out"),
    "TRAIN_MU": Param((2.0, -2.0), (2.0, -2.0), sequence(real(-100, 100), 2),
                      "mean of the hidden confounder U in each training environment (A, B)"),
    "TEST_MU": Param((0.0, 4.0), (0.0, 4.0), sequence(real(-100, 100), 1),
                     "mean of U in each held-out (OOD) environment (C, D)"),
    "U_SD": Param(0.5, 0.5, real(0, 100, lo_open=True), "sd of U in every environment (the paper's setting)"),
    "SHIFTED_SD": Param((0.5, 1.5), (0.5, 1.5), sequence(real(0, 100, lo_open=True), 2),
                        "sd of U per training environment in our second setting, where U's variance shifts "
                        "too (not in the paper)"),
    "PROXIES": Param((0, 1, 2, 5, 10, 20), tuple(range(21)), sequence(integer(0, 20), 2),
                     "proxy counts k: models use X and the first k proxies S_j = 0.1 U + N(0, 0.1²)"),
    "IRM_LAMBDA": Param(1.0, 1.0, real(0, 1e6), "weight of the IRMv1 penalty"),
    "VREX_LAMBDA": Param(1.0, 1.0, real(0, 1e6), "weight of the V-REx variance penalty"),
    "DRO_ETA": Param(0.01, 0.01, real(0, 10), "GroupDRO's step size on the group weights"),
    "STEPS": Param(500, 2000, integer(1, 1_000_000), "full-batch Adam steps of every method"),
    "LR": Param(0.02, 0.02, real(0, 1, lo_open=True), "Adam's step size (cosine-decayed to 1/1000 of it)"),
}
