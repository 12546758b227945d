"""Notebook parameters of `score_merging` (Chaves, Zhou, Burkholz, Valle, Avila; CVPR 2026, 2603.05768).

Quick scale: an MLP pretrained on a few clean 8×8 digits and fine-tuned per synthetic domain (seconds
on a CPU). Paper scale: CLIP ViT image encoders fine-tuned per domain of a DomainBed-style benchmark
by the official code, loaded from data_root()/score_merging/ (see `relml.learning.domains`). The
merging method and its options (λ = 1, TIES top 20%, SCORE ς = 1.96 with σ/T, SAR energy 0.97) are
the paper's at both scales; the digits-MLP knobs are unused at paper scale.
"""

from typing import Any

from relml.learning.domains import DOMAINS, PAPER_DATASETS, PAPER_MODELS
from relml.notebook import Param, ParameterError, choice, integer, real, sequence

_ALL_DOMAINS = tuple(DOMAINS) + tuple(d for ds in PAPER_DATASETS.values() for d in ds)


def _domains(name: str, value: Any) -> None:
    """Empty (every domain of the data set) or at least 3 distinct known domain names."""
    if value == () or value == []:
        return
    sequence(choice(*_ALL_DOMAINS), 3)(name, value)
    if len(set(value)) != len(value):
        raise ParameterError(f"{name}={value!r}: expected distinct domain names")


PARAMS = {
    "SEEDS": Param(5, 1, integer(1, 100),
                   "seeds SEED, SEED+1, ...: pretraining, fine-tuning and noise draws"),
    "DATASET": Param("digits", "PACS", choice("digits", *PAPER_DATASETS),
                     "'digits' (synthetic domains, quick) or one of the paper's eight benchmarks"),
    "MODEL": Param("mlp", "ViT-B-32", choice("mlp", *PAPER_MODELS),
                   "'mlp' for digits; CLIP ViT-B-32, ViT-B-16 or ViT-L-14 at paper scale"),
    "DOMAINS": Param(("rotate_left", "rotate_right", "noise", "contrast", "blur"), (), _domains,
                     f"digit domains among {', '.join(DOMAINS)} (>= 3); () takes every domain of DATASET"),
    "HIDDEN": Param((128, 128), (128, 128), sequence(integer(1, 4096)), "digits MLP hidden widths"),
    "PRETRAIN_SAMPLES": Param(200, 200, integer(10, 1347),
                              "clean digits the base model sees (an imperfect base, like CLIP zero-shot)"),
    "PRETRAIN_EPOCHS": Param(20, 20, integer(1, 1000), "Adam epochs of pretraining (digits)"),
    "FINETUNE_EPOCHS": Param(5, 5, integer(1, 1000), "Adam epochs of each expert's fine-tuning (digits)"),
    "LR": Param(1e-3, 1e-3, real(0, 1, lo_open=True), "Adam learning rate, pretraining and fine-tuning"),
    "N_MULTITASK": Param(4, 4, integer(2, 20),
                         "multi-task control experts (digits: label permutations; paper: its 8 data sets)"),
    "COEF": Param(1.0, 1.0, real(0, 10), "scaling λ of every merged task vector (the paper fixes 1.0)"),
    "THRESHOLD": Param(1.96, 1.96, real(0, 100), "SCORE's ς: off-diagonal cut ς·σ_off/T (95% interval)"),
    "TIES_KEEP": Param(0.2, 0.2, real(0, 1, lo_open=True), "fraction of each task vector TIES keeps"),
    "ENERGY": Param(0.97, 0.97, real(0, 1, lo_open=True),
                    "SAR rank: smallest k whose truncation keeps this fraction of the norm (Eq. 6)"),
}
