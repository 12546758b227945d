"""Notebook parameters of `gat_balance` (Mustafa, Bojchevski, Burkholz, NeurIPS 2023, arXiv 2310.07235).

Paper scale is the official configuration (`Code/InitExpSettings.csv`): Cora with row-normalised features
and the public split, GATv2 with shared weights, one head, no biases, ReLU, width 64, full-batch SGD with
lr 0.1 (no momentum, decay or dropout), 5000 epochs, 5 runs, Xavier-normal against the balanced
initialisations (BalO: looks-linear orthogonal, rows of W^1 at squared norm 2, β = 1; BalX: the same
from Xavier). The depth list beyond the settings file's 5 layers follows the paper's depth study and is
not confirmed. Quick scale keeps the model, optimiser, learning rate and initialisations, and shrinks the
graph (a 300-node contextual SBM instead of Cora), the width, the epochs, the seeds and the arms (BalX
only at paper scale).
"""

from relml.notebook import Param, choice, integer, real, sequence

PARAMS = {
    "DATASET": Param("csbm", "cora", choice("csbm", "cora"),
                     "'csbm': contextual SBM (quick); 'cora': Planetoid Cora, public split (paper)"),
    "NODES": Param(300, 300, integer(30, 1_000_000), "csbm: number of nodes (3 equal classes)"),
    "DEGREE": Param(3.0, 3.0, real(0, None, lo_open=True),
                    "csbm: mean degree; two thirds of a node's edges stay in its class"),
    "FEATURES": Param(16, 16, integer(3, 10_000), "csbm: feature dimension"),
    "SEPARATION": Param(3.0, 3.0, real(0, None), "csbm: distance between class means (unit noise)"),
    "HIDDEN": Param(8, 64, integer(2, 4096), "width of every hidden layer (even: looks-linear init)"),
    "DEPTHS": Param((2, 5, 10), (2, 5, 10, 20, 40, 80), sequence(integer(2, 200), 2),
                    "GAT depths L compared (first = shallow reference, last = deepest)"),
    "INITS": Param(("xavier", "balo"), ("xavier", "balx", "balo"),
                   sequence(choice("xavier", "balx", "balo", "llortho"), 2),
                   "initialisations compared; must contain 'xavier' and 'balo'"),
    "EPOCHS": Param(150, 5000, integer(10, 100_000), "full-batch SGD steps per run"),
    "LR": Param(0.1, 0.1, real(0, None, lo_open=True), "SGD learning rate (the paper's 0.1)"),
    "SPEED_DEPTH": Param(5, 5, integer(2, 200), "depth at which training speed is compared"),
    "TARGET_ACC": Param(0.7, 0.7, real(0, 1, lo_open=True),
                        "speed: epochs until the training accuracy first reaches this level"),
    "THRESHOLD": Param(0.01, 0.01, real(0, None, lo_open=True),
                       "a weight 'barely changes' when |θ_T − θ_0| / |θ_0| stays below this"),
    "LAW_DEPTH": Param(5, 5, integer(3, 200), "conservation law: depth of the GAT"),
    "LAW_LR": Param(0.01, 0.01, real(0, None, lo_open=True),
                    "conservation law: the small learning rate approximating gradient flow"),
    "LAW_STEPS": Param(100, 1000, integer(2, 100_000), "conservation law: SGD steps recorded"),
    "SEEDS": Param(3, 5, integer(1, 100), "initialisation seeds SEED, SEED+1, ... (the graph uses SEED)"),
}
