"""Notebook parameters of `moe_noise` (Sun, Nittala, Burkholz, ICML 2026, arXiv 2601.14792).

Both scales run the paper's synthetic comparison: block-diagonal noisy linear regression, a dense
network against a top-1 mixture of experts with exactly as many parameters, trained with Adam on the
full batch. Quick scale shrinks the block size, samples, steps and seeds. The paper's own synthetic
sizes were not available to us, so the paper preset is our larger reading of the same setting; the
paper's language-model experiments are not run here.
"""

from relml.notebook import Param, integer, real, sequence

PARAMS = {
    "MODULES": Param(8, 8, integer(2, 64), "latent modules K = experts E"),
    "BLOCK_SIZE": Param(4, 8, integer(1, 256), "features per module m (input and output dimension d = K m)"),
    "HIDDEN": Param(4, 8, integer(1, 1024),
                    "hidden width of each expert; the dense width is set so that parameter counts match"),
    "N_TRAIN": Param(1000, 4000, integer(10, 10**7), "training samples per run"),
    "N_TEST": Param(2000, 10000, integer(10, 10**7), "fresh test samples per run"),
    "SIGMAS": Param((0.0, 0.25, 0.5, 1.0), (0.0, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
                    sequence(real(0, 100), 2), "feature-noise levels σ (std per coordinate) trained at"),
    "FOCUS_SIGMA": Param(0.25, 0.25, real(0, 100),
                         "the training σ (one of SIGMAS) whose models are perturbed and whose curves "
                         "are shown"),
    "TAUS": Param((0.25, 0.5, 1.0), (0.125, 0.25, 0.5, 1.0, 2.0), sequence(real(0, 100)),
                  "extra test-time noise levels τ for the robustness check"),
    "STEPS": Param(200, 1000, integer(1, 10**6), "full-batch Adam steps"),
    "LR": Param(0.05, 0.05, real(0, 10, lo_open=True), "Adam learning rate (all models)"),
    "BALANCE": Param(0.1, 0.1, real(0, 100), "weight of the load-balancing loss (learned router)"),
    "SEEDS": Param(3, 10, integer(1, 1000), "seeds SEED, SEED+1, ...: teacher, data and initialisation"),
}
