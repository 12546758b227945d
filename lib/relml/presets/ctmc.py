"""Notebook parameters of `ctmc` (Gotovos, Burkholz, Quackenbush, Jegelka, NeurIPS 2021, arXiv 2107.02911).

Both scales run the same method: the paper's synthetic block `SYNTH2` (item 0 promotes item 1) plus m
independent items, the approximate-likelihood fit (exact DP below 8 items, Metropolis–Hastings over
orderings from 8 on, AdaGrad with an L1 prox after a diagonal warm start). Quick scale shrinks the
numbers of extra items, restarts, iterations and timed sizes; the optimizer's settings are the
official code's (`3lectrologos/time`, `learn.py` / `exp_synth.py`) except INIT_RANGE (see there).
"""

from relml.dynamics.ctmc import EXACT_BELOW, PROPOSALS
from relml.notebook import Param, choice, integer, real, sequence

PARAMS = {
    "N_SAMPLES": Param(500, 500, integer(10, 100_000), "sets per data set (the paper's 500)"),
    "EXTRA_ITEMS": Param((0, 1, 2, 3, 5), (0, 5, 10, 15, 20, 25, 30, 35, 40), sequence(integer(0, 200), 2),
                         "numbers m of independent items added to the dependent pair (the paper: 0..40)"),
    "RATE_LOW": Param(-1.0, -1.0, real(-10, 10),
                      "independent items' base rates θ_kk ~ U(RATE_LOW, RATE_HIGH) (the paper's range is not "
                      "in its code: an argument mismatch)"),
    "RATE_HIGH": Param(1.0, 1.0, real(-10, 10), "upper end of the independent items' base rates"),
    "SEEDS": Param(5, 10, integer(1, 100), "data sets (one true θ and sample each): SEED, SEED+1, ..."),
    "RESTARTS": Param(4, 10, integer(2, 100), "fits per data set from independent random inits"),
    "MAX_ITER": Param(400, 3000, integer(1, 100_000), "AdaGrad iterations at most (official 3000)"),
    "STEP": Param(1.0, 1.0, real(0, 100, lo_open=True), "AdaGrad step (official 1.0)"),
    "REG": Param(0.01, 0.01, real(0, 10), "L1 penalty on the off-diagonal θ (official 0.01)"),
    "WARM_START": Param(101, 101, integer(0, 10_000), "diagonal-only warm-start iterations (official 101)"),
    "INIT_RANGE": Param(4.0, 4.0, real(0, 20),
                        "off-diagonal inits ~ U(±INIT_RANGE) after the warm start; the official default 0.2 "
                        "starts every restart in one basin, 4 (the scale of θ) lets restarts explore"),
    "MH_SAMPLES": Param(50, 50, integer(1, 10_000), "Metropolis–Hastings orderings per set and gradient"),
    "BURN_IN": Param(5, 5, integer(0, 10_000), "MH proposals discarded before the kept ones"),
    "EXACT_BELOW": Param(EXACT_BELOW, EXACT_BELOW, integer(0, 20),
                         "sets with fewer items get the exact DP gradient (official 8)"),
    "PROPOSAL": Param("hazard", "hazard", choice(*PROPOSALS), "MH proposal; 'hazard' is the paper's"),
    "TIMING_ITEMS": Param((24, 32, 40, 48, 96, 192), (16, 24, 32, 40, 48, 56, 64, 128, 256, 512),
                          sequence(integer(2, 4096), 3), "numbers of items n timed (sets of n/4 items)"),
    "TIMING_SETS": Param(10, 50, integer(1, 10_000), "random sets per timed gradient"),
    "TIMING_EXACT_MAX": Param(12, 14, integer(1, 18), "largest set size given to the exact DP when timing"),
}
