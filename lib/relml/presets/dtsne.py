"""Notebook parameters of dtSNE (Fischer, Burkholz & Vreeken, arXiv 2301.13732).

Quick scale shrinks the synthetic sets and the number of iterations; the method (perplexity,
density weight, openTSNE's schedule and exaggeration) is the same at both scales. The paper's
sample sizes and iteration counts were not recoverable: paper scale uses openTSNE's defaults.
"""

from relml.notebook import Param, choice, integer, real, sequence

PARAMS = {
    "PERPLEXITY": Param(30.0, 30.0, real(1.0, 1000.0), "effective neighbour count of the affinities"),
    "DENSITY_WEIGHT": Param(1.0, 1.0, real(0.0, 1.0),
                            "α in γ_ij = (β_ij/β_max)^α: 1 = dtSNE, 0 = t-SNE's kernel"),
    "DIM": Param(2, 2, integer(2, 1000), "dimension of the synthetic Gaussians (the paper's Figs. 1-2: 2)"),
    "STDS": Param((1.0, 3.0, 9.0), (1.0, 3.0, 9.0), sequence(real(0.0, None, lo_open=True), 2),
                  "Fig. 1: spreads of the clusters"),
    "N_PER_CLUSTER": Param(150, 500, integer(100, 100_000), "Fig. 1: points per cluster"),
    "SIZES": Param((50, 200, 800), (250, 1000, 4000), sequence(integer(10, 1_000_000), 2),
                   "Fig. 2: cluster sample sizes at equal spread (each > 3·perplexity)"),
    "EARLY_ITER": Param(100, 250, integer(0, 10_000), "early-exaggeration iterations (openTSNE: 250)"),
    "N_ITER": Param(300, 500, integer(1, 100_000), "iterations after early exaggeration (openTSNE: 500)"),
    "BASELINES": Param(("tsne",), ("tsne", "umap", "densmap"), sequence(choice("tsne", "umap", "densmap"), 1),
                       "methods run beside dtSNE (UMAP's numba compile alone exceeds the quick budget)"),
}
