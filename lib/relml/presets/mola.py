"""Notebook parameters of `mola` (Sanyal, Sidahmed, Burkholz, Chavdarova 2026, arXiv 2601.18409).

Both scales play the paper's games (d = 120, γ = 0.1; bilinear A = β N(0, 1)/√d with β = 0.6; SC-SC with
μ_x = μ_y = 0.18 and σ(A) evenly in [0.25, 0.45]) with the paper's baselines (GDA, EG, OGDA, LookAhead with
k = 5, α = 0.5). Quick scale shrinks only the budget of base gradient evaluations and the number of seeds.
"""

from relml.notebook import Param, integer, real

PARAMS = {
    "DIM": Param(120, 120, integer(2, 5000), "d: dimension of each player (x, y ∈ R^d)"),
    "BETA": Param(0.6, 0.6, real(0, None, lo_open=True), "bilinear game: A = BETA · N(0, 1) / √d"),
    "LR": Param(0.1, 0.1, real(0, 1, lo_open=True), "γ: step size of every base method"),
    "BUDGET": Param(2000, 5000, integer(100, 1_000_000),
                    "base gradient evaluations on the bilinear game (EG pays 2 per step)"),
    "SCSC_BUDGET": Param(1600, 5000, integer(100, 1_000_000), "base gradient evaluations on the SC-SC game"),
    "MU": Param(0.18, 0.18, real(0, None, lo_open=True), "SC-SC game: μ_x = μ_y (potential part)"),
    "SIGMA_MIN": Param(0.25, 0.25, real(0, None), "SC-SC game: smallest singular value of A (rotation)"),
    "SIGMA_MAX": Param(0.45, 0.45, real(0, None), "SC-SC game: largest singular value of A"),
    "LA_K": Param(5, 5, integer(1, 10_000), "fixed LookAhead baseline: k (LookAhead's default)"),
    "LA_ALPHA": Param(0.5, 0.5, real(0, 1, lo_open=True), "fixed LookAhead baseline: α (default)"),
    "K_MAX": Param(256, 256, integer(2, 100_000),
                   "MoLA: largest k considered (candidates clipped to [2, K_MAX])"),
    "ESTIMATE_STEPS": Param(20, 20, integer(2, 1000),
                            "MoLA: Jacobian-vector products of the frequency estimate (Arnoldi steps)"),
    "TARGET": Param(0.6, 0.6, real(0, 1, lo_open=True, hi_open=True),
                    "bilinear: speed = base evaluations until ‖z − z*‖ ≤ TARGET · ‖z_0 − z*‖"),
    "SCSC_TARGET": Param(1e-6, 1e-6, real(0, 1, lo_open=True, hi_open=True),
                         "SC-SC: speed = base evaluations until ‖z − z*‖ ≤ SCSC_TARGET · ‖z_0 − z*‖"),
    "SEEDS": Param(5, 10, integer(1, 1000), "independent games and starts (seeds SEED, SEED+1, ...)"),
}
