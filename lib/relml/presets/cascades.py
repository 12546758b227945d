"""Notebook parameters of `cascades` (Burkholz & Quackenbush, AAAI 2021, arXiv 1909.05416).

Quick scale: trees and near-trees of a few hundred nodes, 20k Monte Carlo runs per reference.
Paper scale: the same experiments on 10^4-node trees and 10^3-node near-trees with 10^5 runs (the
paper's large sparse networks; its miRNA network is not public in this repository, so the real-network
comparison uses networkx's bundled social networks at both scales).
"""

from relml.notebook import Param, integer, real, sequence

PARAMS = {
    "SEEDS": Param(5, 10, integer(1, 1000), "seeds SEED, SEED+1, ... (random graphs, parameters, MC runs)"),
    "P0": Param(0.05, 0.05, real(0, 1), "initial activation probability of every node (claims 1-3)"),
    "TREE_W": Param((0.3, 0.6), (0.3, 0.6), sequence(real(0, 1)), "edge weights w of the random trees"),
    "BRUTE_N": Param(6, 7, integer(2, 8),
                     "nodes of the small random trees checked against brute-force enumeration "
                     "(3n - 2 random bits)"),
    "TREE_N": Param(200, 10_000, integer(2, 10**6), "nodes of the random trees for SDP against Monte Carlo"),
    "MC_TRIALS": Param(20_000, 100_000, integer(100, 10**8), "Monte Carlo runs per reference distribution"),
    "TARGET_TV": Param(0.01, 0.01, real(0, 1, lo_open=True, hi_open=True),
                       "accuracy (total variation) at which SDP and Monte Carlo are timed"),
    "GRAPH_N": Param(200, 1000, integer(10, 10**5), "nodes of the near-trees (tree plus extra edges)"),
    "EXTRA_EDGES": Param((0.0, 0.02, 0.05, 0.1, 0.2), (0.0, 0.02, 0.05, 0.1, 0.2), sequence(real(0, 1), 2),
                         "extra edges per tree edge added to the near-trees (their share of loops)"),
    "GRAPH_W": Param(0.3, 0.3, real(0, 1), "edge weight w on near-trees and the bundled real networks"),
    "BIMODAL_N": Param(200, 1000, integer(10, 10**5), "nodes of the scale-free trees of claim 4"),
    "BIMODAL_P0": Param(0.01, 0.002, real(0, 1), "p0 on the scale-free trees (2 expected seeds)"),
    "BIMODAL_W": Param(0.9, 0.9, real(0, 1), "edge weight on the scale-free trees"),
    "VACCINE_W": Param(0.7, 0.7, real(0, 1), "edge weight in the two-community vaccination example"),
    "CANDIDATES": Param(20, 50, integer(1, 10**4), "highest-degree nodes considered as vaccination targets"),
}
