"""The registry of the group's 34 papers: one `Paper` per notebook.

`PAPERS` is the single source for `relml list`, README's table (a test keeps them in sync) and the
CLI's slug validation. A paper is "ready" once its notebook, library module and tests exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class Paper:
    slug: str
    title: str
    authors: str
    year: int
    venue: str
    arxiv: str | None
    topics: tuple[str, ...]
    status: str = "planned"  # "ready" once the notebook reproduces the paper's claims

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS / f"{self.slug}.ipynb"

    @property
    def url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None


def _p(slug, title, authors, year, venue, arxiv, topics, status="planned") -> Paper:
    return Paper(slug, title, authors, year, venue, arxiv, tuple(topics.split(", ")), status)


_ALL = [
    _p("sparseopt", "SparseOpt: Addressing Normalization-induced Gradient Skew in Sparse Training",
       "Adnan, Jain, Jacobs, Sharma, Krishnan, Burkholz, Ioannou", 2026, "ICML", "2605.27541",
       "sparse training, optimizers"),
    _p("dtsne", "Preserving local densities in low-dimensional embeddings",
       "Fischer, Burkholz, Vreeken", 2023, "arXiv", "2301.13732", "embeddings", "ready"),
    _p("random_pruning", "Why Random Pruning Is All We Need to Start Sparse",
       "Gadhikar, Mukherjee, Burkholz", 2023, "ICML", "2210.02412", "lottery tickets, sparse training",
       "ready"),
    _p("gat_balance", "Are GATs Out of Balance?", "Mustafa, Bojchevski, Burkholz", 2023, "NeurIPS",
       "2310.07235", "GNNs, initialization", "ready"),
    _p("lottery_activations", "Most Activation Functions Can Win the Lottery Without Excessive Depth",
       "Burkholz", 2022, "NeurIPS", "2205.02321", "lottery tickets"),
    _p("lottery_convres", "Convolutional and Residual Networks Provably Contain Lottery Tickets",
       "Burkholz", 2022, "ICML", "2205.02343", "lottery tickets"),
    _p("mas_moe", "Multi-Agent Systems are Mixtures of Experts: Who Becomes an Influencer?",
       "Bause, Niederle, Pawelczyk, Burkholz", 2026, "arXiv", "2605.25929",
       "multi-agent systems, opinion dynamics", "ready"),
    _p("mask_mirror", "Mask in the Mirror: Implicit Sparsification", "Jacobs, Burkholz", 2025, "ICLR",
       "2408.09966", "implicit bias, sparsity", "ready"),
    _p("never_saddle", "Never Saddle for Reparameterized Steepest Descent as Mirror Flow",
       "Jacobs, Zhou, Burkholz", 2026, "ICLR", "2603.02064", "optimization, implicit bias"),
    _p("risotto", "Dynamical Isometry for Residual Networks", "Gadhikar, Burkholz", 2022, "arXiv",
       "2210.02411", "initialization"),
    _p("stubborn_neighbors", "Don't Trust Stubborn Neighbors: A Security Framework for Agentic Networks",
       "Abedini, Mavali, Schönherr, Pawelczyk, Burkholz", 2026, "arXiv", "2603.15809",
       "multi-agent security, opinion dynamics", "ready"),
    _p("horst", "HORST: Composing Optimizer Geometries for Sparse Transformer Training",
       "Jacobs, Jain, Burkholz", 2026, "ICML workshop (HiLD)", "2605.21104", "optimizers, sparsity",
       "ready"),
    _p("moe_noise", "Robustness of Mixtures of Experts to Feature Noise", "Sun, Nittala, Burkholz", 2026,
       "ICML", "2601.14792", "mixtures of experts", "ready"),
    _p("score_merging", "Bridging Domains through Subspace-Aware Model Merging",
       "Chaves, Zhou, Burkholz, Valle, Avila", 2026, "CVPR", "2603.05768", "model merging", "ready"),
    _p("mola", "Frequency-Based Hyperparameter Selection in Games",
       "Sanyal, Sidahmed, Burkholz, Chavdarova", 2026, "arXiv", "2601.18409", "games, optimization",
       "ready"),
    _p("faf", "Fixed Aggregation Features Can Rival GNNs", "Rubio-Madrigal, Burkholz", 2026, "ICML",
       "2601.19449", "GNNs"),
    _p("lrr_signs", "Masks, Signs, and Learning Rate Rewinding", "Gadhikar, Burkholz", 2024, "ICLR",
       "2402.19262", "lottery tickets, pruning", "ready"),
    _p("spectral_pruning", "Spectral Graph Pruning Against Over-Squashing and Over-Smoothing",
       "Jamadandi, Rubio-Madrigal, Burkholz", 2024, "NeurIPS", "2404.04612", "graph rewiring, GNNs"),
    _p("comfy", "GNNs Getting ComFy: Community and Feature Similarity Guided Rewiring",
       "Rubio-Madrigal, Jamadandi, Burkholz", 2025, "ICLR", "2502.04891", "graph rewiring, GNNs"),
    _p("mirror_regularization", "Mirror, Mirror of the Flow: How Does Regularization Shape Implicit Bias?",
       "Jacobs, Zhou, Burkholz", 2025, "ICML", "2504.12883", "implicit bias, regularization"),
    _p("confounding_shift", "When Shift Happens - Confounding Is to Blame",
       "Reddy, Rubio-Madrigal, Burkholz, Muandet", 2026, "ICLR", "2505.21422", "distribution shift",
       "ready"),
    _p("sign_in", "Sign-In to the Lottery: Reparameterizing Sparse Training From Scratch",
       "Gadhikar, Jacobs, Zhou, Burkholz", 2025, "NeurIPS", "2504.12801", "sparse training"),
    _p("graphon", "The Graphon Limit Hypothesis: Understanding Neural Network Pruning via Infinite Width "
       "Analysis", "Pham, Ta, Jacobs, Burkholz, Tran-Thanh", 2025, "NeurIPS", "2510.17515", "pruning theory"),
    _p("nanoadam", "Pay Attention to Small Weights", "Zhou, Jacobs, Gadhikar, Burkholz", 2025, "NeurIPS",
       "2506.21374", "fine-tuning, optimizers"),
    _p("ham", "HAM: A Hyperbolic Step to Regulate Implicit Bias",
       "Jacobs, Gadhikar, Rubio-Madrigal, Burkholz", 2026, "ICLR", "2506.02630", "optimizers, implicit bias",
       "ready"),
    _p("sculpt", "Cyclic Sparse Training: Is it Enough?", "Gadhikar, Nelaturu, Burkholz", 2024, "arXiv",
       "2406.02773", "pruning, sparse training", "ready"),
    _p("gate", "GATE: How to Keep Out Intrusive Neighbors", "Mustafa, Burkholz", 2024, "ICML", "2406.00418",
       "GNNs, attention", "ready"),
    _p("dash", "Pruning neural network models for gene regulatory dynamics using data and domain knowledge",
       "Hossain, Fischer, Burkholz, Quackenbush", 2024, "NeurIPS", "2403.04805", "pruning, biology", "ready"),
    _p("plant_n_seek", "Plant 'n' Seek: Can You Find the Winning Ticket?", "Fischer, Burkholz", 2022,
       "ICLR", "2111.11153", "lottery tickets"),
    _p("universal_tickets", "On the Existence of Universal Lottery Tickets",
       "Burkholz, Laha, Mukherjee, Gotovos", 2022, "ICLR", "2111.11146", "lottery tickets"),
    _p("nonzero_biases", "Lottery Tickets with Nonzero Biases", "Fischer, Gadhikar, Burkholz", 2021, "arXiv",
       "2110.11150", "lottery tickets, initialization"),
    _p("ctmc", "Scaling up Continuous-Time Markov Chains Helps Resolve Underspecification",
       "Gotovos, Burkholz, Quackenbush, Jegelka", 2021, "NeurIPS", "2107.02911", "stochastic processes",
       "ready"),
    _p("cascades", "Cascade Size Distributions: Why They Matter and How to Compute Them Efficiently",
       "Burkholz, Quackenbush", 2021, "AAAI", "1909.05416", "network cascades", "ready"),
    _p("relu_isometry", "Initialization of ReLUs for Dynamical Isometry", "Burkholz, Dubatovka", 2019,
       "NeurIPS", "1806.06362", "initialization"),
]

PAPERS: dict[str, Paper] = {p.slug: p for p in _ALL}


def get(slug: str) -> Paper:
    """The paper registered under `slug`; a clear error naming the known slugs otherwise."""
    try:
        return PAPERS[slug]
    except KeyError:
        raise KeyError(f"unknown paper {slug!r}; known slugs: {', '.join(sorted(PAPERS))}") from None


def ready() -> list[Paper]:
    return [p for p in PAPERS.values() if p.status == "ready"]


def markdown_table() -> str:
    """README's table of papers, generated from the registry (a test keeps README in sync)."""
    rows = ["| slug | paper | year | venue | topics | notebook | status |", "|---|---|---|---|---|---|---|"]
    for p in PAPERS.values():
        title = f"[{p.title}]({p.url})" if p.url else p.title
        nb = f"[notebook](notebooks/{p.slug}.ipynb)" if p.status == "ready" else "—"
        topics = ", ".join(p.topics)
        rows.append(f"| `{p.slug}` | {title} | {p.year} | {p.venue} | {topics} | {nb} | {p.status} |")
    return "\n".join(rows)
