"""Biology: DASH pruning of PHOENIX gene-regulatory dynamics models guided by a prior network."""

from relml.bio.dash import (
    Arm,
    ArmsResult,
    DashPruning,
    PairLoss,
    best_guess_input,
    best_guess_output,
    dash_score,
    data_terms,
    partner_matrix,
    prune_schedule,
    run_arms,
    run_seeds,
    schedule_density,
    seed_table,
    threshold_masks,
)
from relml.bio.grn import (
    GRNData,
    Phoenix,
    edge_scores,
    effects_matrix,
    load_expression,
    load_sim350,
    load_sim350_train,
    network_metrics,
    pr_curve,
    prior_scores,
    transitions,
)

__all__ = [
    "Arm", "ArmsResult", "DashPruning", "GRNData", "PairLoss", "Phoenix", "best_guess_input",
    "best_guess_output", "dash_score", "data_terms", "edge_scores", "effects_matrix", "load_expression",
    "load_sim350", "load_sim350_train", "network_metrics", "partner_matrix", "pr_curve", "prior_scores",
    "prune_schedule", "run_arms", "run_seeds", "schedule_density", "seed_table", "threshold_masks",
    "transitions",
]
