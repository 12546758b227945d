"""Notebook parameters of `stubborn_neighbors` (Abedini, Mavali et al. 2026, arXiv 2603.15809).

Quick scale is the LLM-free Friedkin–Johnsen reproduction (numpy, seconds). Paper scale keeps the
same method with more seeds, questions and network sizes; the paper's LLM-agent experiments are not
run here (they need hosted or GPU models).
"""

from relml.dynamics.opinion import TOPOLOGIES
from relml.notebook import Param, choice, integer, real, sequence

PARAMS = {
    "N_AGENTS": Param(10, 20, integer(2, 500),
                      "benign agents on complete/star/ring/erdos_renyi (plus one adversary); karate and "
                      "florentine keep their own sizes (33 + 1, 14 + 1)"),
    "N_SWEEP": Param((2, 4, 8, 16, 32, 64), (2, 4, 8, 16, 32, 64, 128, 256), sequence(integer(1, 2000), 2),
                     "benign agent counts for lever (a), more benign agents"),
    "TOPOLOGIES": Param(TOPOLOGIES, TOPOLOGIES, sequence(choice(*TOPOLOGIES)),
                        f"network topologies, any of {', '.join(TOPOLOGIES)}"),
    "ADVERSARY_POSITION": Param("max_degree", "max_degree", choice("max_degree", "min_degree"),
                                "the adversary's node: the most connected (worst case) or the least"),
    "ADV_STUBBORNNESS": Param(1.0, 1.0, real(0, 1), "adversary's innate stubbornness s_a (1: never moves)"),
    "TRUST_IN_ADVERSARY": Param(2.0, 2.0, real(0, 100),
                                "persuasiveness: a neighbour weighs the adversary's message this many times "
                                "a peer's (1: like any peer)"),
    "BENIGN_STUBBORNNESS": Param(0.05, 0.05, real(0, 1), "benign agents' innate stubbornness s_i"),
    "DEFENCE_RATE": Param(2.0, 2.0, real(0, 100),
                          "η of the trust-adaptive defence (trust decay per unit of suspicion)"),
    "STUBBORN_BASELINE": Param(0.4, 0.4, real(0, 1),
                               "baseline defence: every benign agent's stubbornness raised to this value"),
    "ROUNDS": Param(30, 50, integer(1, 10_000), "deliberation rounds for trajectories and the defences"),
    "N_QUESTIONS": Param(16, 64, integer(1, 10_000), "questions deliberated at once (columns of x0)"),
    "SEEDS": Param(5, 20, integer(1, 1000), "seeds SEED, SEED+1, ... (initial opinions, random graphs)"),
}
