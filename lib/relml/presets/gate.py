"""Notebook parameters of `gate` (Mustafa & Burkholz, ICML 2024, arXiv 2406.00418).

Paper scale is the official configuration (RelationalML/GATE, ExpSettings_GAT(E).csv): the synthetic
tasks on ER(1000, 0.01), width 64, depths 1/2/5 (self-sufficient) and 1–3 (one-hop task), Adam
lr 0.005 for up to 10,000 epochs (stopping at training loss 1e-4), 5 runs; the heterophilous benchmark
with GAT_S / GATE_S of 5 layers, lr 0.001, 5,000 epochs, its 10 splits (the official runs also try
10 layers at lr 0.0005). Quick scale shrinks only sizes: the same 1000-node graphs, width 16, fewer
epochs, one run, depths 2 and 5, and the heterophilous sets with 2 layers on 1 split (tolokers on a
random induced subgraph of 500 nodes).
"""

from relml.notebook import Param, choice, integer, real, sequence

PAPER_HETEROPHILOUS = ("roman_empire", "amazon_ratings", "minesweeper", "tolokers", "questions")
HETEROPHILOUS = (*PAPER_HETEROPHILOUS, "cornell", "texas", "wisconsin", "chameleon_filtered",
                 "squirrel_filtered")

PARAMS = {
    "SEEDS": Param(1, 5, integer(1, 100), "runs of every synthetic experiment: seeds SEED, SEED+1, ... "
                                          "(graph, labels, split and initialisation)"),
    "SELF_TASK": Param(27, 27, choice(26, 27),
                       "self-sufficient task: ER graph, random labels as one-hot features (26: 2 classes, "
                       "27: 8 classes)"),
    "NEIGHBOR_TASK": Param(21, 21, choice(21, 22, 23),
                           "neighbour-dependent task: labels from 1/2/3 hops of random attention (21/22/23)"),
    "NUM_NODES": Param(1000, 1000, integer(20, 100_000),
                       "nodes of the synthetic ER graphs (p scaled to keep the paper's mean degree ≈ 10)"),
    "HIDDEN": Param(16, 64, integer(2, 4096), "hidden width of the GAT / GATE layers"),
    "DEPTHS": Param((2, 5), (1, 2, 5), sequence(integer(1, 64)), "layers on the self-sufficient task"),
    "NEIGHBOR_DEPTHS": Param((1,), (1, 2, 3), sequence(integer(1, 64)),
                             "layers on the neighbour-dependent task"),
    "EPOCHS": Param(150, 10_000, integer(1, 100_000),
                    "max Adam epochs on the self-sufficient task (early stop at training loss 1e-4)"),
    "NEIGHBOR_EPOCHS": Param(300, 10_000, integer(1, 100_000),
                             "max Adam epochs on the neighbour-dependent task"),
    "LR": Param(0.005, 0.005, real(0, 1, lo_open=True), "Adam learning rate on the synthetic tasks"),
    "HETERO_SETS": Param(("cornell", "tolokers"), PAPER_HETEROPHILOUS, sequence(choice(*HETEROPHILOUS)),
                         "heterophilous benchmark sets (Platonov et al. 2023)"),
    "HETERO_SPLITS": Param(1, 10, integer(1, 10), "benchmark splits 0, 1, ... per heterophilous set"),
    "HETERO_NODES": Param(500, 0, integer(0, 10_000_000),
                          "train on a random induced subgraph of this many nodes (0: the whole graph)"),
    "HETERO_DEPTH": Param(2, 5, integer(1, 64), "layers of GAT_S / GATE_S on the heterophilous sets"),
    "HETERO_EPOCHS": Param(100, 5000, integer(1, 100_000), "Adam epochs on the heterophilous sets"),
    "HETERO_LR": Param(0.001, 0.001, real(0, 1, lo_open=True),
                       "Adam learning rate on the heterophilous sets"),
}
