"""Notebook parameters of `mask_mirror` (Jacobs & Burkholz, "Mask in the Mirror", ICLR 2025).

Two experiments. (1) The diagonal linear network of Sec. 4 on the shared regression bench
(`relml.optim.testbench`): S underdetermined problems with d = 40 samples, n = 100 dimensions and a
5-sparse truth, x_init ~ N(0, I/√n) (read as variance 1/√n), scaling m_0² − w_0² = 1; the paper's gradient-
flow step η = 1e-4, our quick runs take η = 0.08 and 800× fewer steps for the same continuous time.
The paper ran this with fixed decaying schedules; we run Algorithm 1 itself, with the share of samples
fitted within 10% of the RMS of y as its "training accuracy", and baselines with constant α.
(2) One-shot sparsification: dense training + global magnitude pruning (+ fine-tuning) versus PILoT +
pruning. Quick: an MLP 64-128-128-10 on sklearn digits, SGD at a constant learning rate (a few epochs
leave no room for a schedule). Paper: CIFAR-100 with ResNet-18 (the paper's CIFAR-10 model, ResNet-20, is
not in relml.models), SGD momentum 0.9, batch 256, weight decay 1e-4, 150 epochs, lr 0.1 (baseline) / 0.2
(m ⊙ w), PILoT α from the paper's grid {1e-4, 3e-4, 1e-3} (Appendix B.2, Table 1). δ and K of Algorithm
1 and the fine-tuning of the baseline are not given in the paper: ours.
"""

from relml.notebook import Param, boolean, choice, integer, real, sequence

_INIT_STD = 100 ** -0.25  # N(0, I_n/√n) with n = 100 dimensions

PARAMS = {
    "SEEDS": Param(5, 5, integer(1), "regression problems (seeds SEED, SEED+1, ...); paper: 5 inits"),
    "N_SAMPLES": Param(40, 40, integer(2), "samples of each regression problem (the paper's d = 40)"),
    "DIM": Param(100, 100, integer(3), "dimension of θ (the paper's n = 100; underdetermined: > N_SAMPLES)"),
    "SUPPORT": Param(5, 5, integer(1), "nonzeros of the ground truth θ* (±1 entries)"),
    "INIT_STD": Param(_INIT_STD, _INIT_STD, real(0.0, lo_open=True),
                      "std of x_init ~ N(0, I/√n) (the paper's notation, read as variance 1/√n; verify)"),
    "BETA": Param(1.0, 1.0, real(0.0), "imbalance m0² − w0² of the init (the paper's scaling 2u0v0 = 1)"),
    "REG_LR": Param(0.08, 1e-4, real(0.0, lo_open=True), "GD step on the regression problems (paper 1e-4)"),
    "REG_EPOCHS": Param(60, 60, integer(2), "epochs (Algorithm 1 updates) of the regression runs"),
    "REG_STEPS": Param(25, 20_000, integer(1), "GD steps per epoch (paper: same time at η = 1e-4)"),
    "REG_ALPHA": Param(0.02, 0.02, real(0.0, lo_open=True), "α_init of PILoT on the regression problems"),
    "REG_DELTA": Param(1.2, 1.2, real(1.0, lo_open=True), "Algorithm 1's δ on the regression problems"),
    "REG_TOL": Param(0.1, 0.1, real(0.0, lo_open=True),
                     "a sample counts as fitted if |residual| <= REG_TOL · RMS(y) (regression 'accuracy')"),
    "CONST_ALPHAS": Param((0.005, 0.02, 0.08), (0.005, 0.02, 0.08), sequence(real(0.0, lo_open=True), 1),
                          "constant α of the spred-like baselines (m ⊙ w, β = 1, α never changes)"),
    "DATASET": Param("digits", "cifar100", choice("digits", "cifar10", "cifar100"),
                     "one-shot experiment: sklearn digits (quick) or CIFAR (paper; relml.data.load_cifar)"),
    "MODEL": Param("mlp", "resnet18", choice("mlp", "resnet18", "vgg16"),
                   "MLP 64-w-w-10 (quick) or ResNet-18 (the paper's CIFAR-100 model)"),
    "WIDTH": Param(128, 1, real(0.0, lo_open=True), "MLP hidden width, or the conv net's width multiplier"),
    "RUNS": Param(3, 3, integer(1), "independent runs of the one-shot experiment (the paper: 3 seeds)"),
    "EPOCHS": Param(30, 150, integer(1), "training epochs of both arms before pruning"),
    "LR": Param(0.05, 0.1, real(0.0, lo_open=True), "SGD learning rate of the dense baseline"),
    "PILOT_LR": Param(0.05, 0.2, real(0.0, lo_open=True), "SGD learning rate on m and w (paper 2× LR)"),
    "MOMENTUM": Param(0.9, 0.9, real(0.0, 1.0, hi_open=True), "SGD momentum (both arms, fine-tuning too)"),
    "WEIGHT_DECAY": Param(0.0, 1e-4, real(0.0), "ordinary weight decay on all parameters"),
    "BATCH_SIZE": Param(64, 256, integer(1), "mini-batch size"),
    "COSINE": Param(False, True, boolean(), "cosine learning-rate schedule (paper: cosine / step warmup)"),
    "ALPHA": Param(3e-3, 1e-4, real(0.0, lo_open=True), "PILoT's α_init for the networks"),
    "DELTA": Param(1.1, 1.1, real(1.0, lo_open=True), "Algorithm 1's factor δ for the networks"),
    "THRESHOLD": Param(0.0, 0.0, real(0.0), "Algorithm 1's K: α grows only while ‖m ⊙ w‖₁ >= K"),
    "FINETUNE_EPOCHS": Param(5, 15, integer(1), "fine-tuning epochs after pruning (both arms)"),
    "FINETUNE_LR": Param(0.05, 0.01, real(0.0, lo_open=True), "fine-tuning learning rate (SGD, constant)"),
    "SPARSITIES": Param((0.9, 0.95, 0.98), (0.9, 0.95, 0.98), sequence(real(0.0, 1.0, hi_open=True), 1),
                        "one-shot sparsities (fraction of weights removed), ascending; the last is 'high'"),
}
