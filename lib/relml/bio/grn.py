r"""Gene-regulatory dynamics: the simulated 350-gene data of DASH, PHOENIX's derivative model, the model's
implied gene network and its scores against the true network.

Hossain, Fischer, Burkholz & Quackenbush, "Pruning neural network models for gene regulatory dynamics
using data and domain knowledge" (DASH), NeurIPS 2024, arXiv 2403.04805; the model is PHOENIX (Hossain
et al. 2024), as in the official code `QuackenbushLab/DASH` (`ode_net/code/PHX_base_model.py`).

**Model.** For expression x ∈ ℝ^n, shifted softsign σ(x) = (x − ½)/(1 + |x − ½|) and hidden width h,

.. math::  \frac{dx}{dt} = \mathrm{ReLU}(\upsilon) \odot \big(J(x) - x\big),\qquad
           J(x) = A_s (W_s \sigma(x) + b_s) + A_p \exp\!\big(W_p \log(1 + \sigma(x)) + b_p\big),

with "sums" and "prods" input layers W_s, W_p ∈ ℝ^{h×n} (init 95% zeros, std 0.05), output layers
A_s, A_p ∈ ℝ^{n×h} (no bias, orthogonal init) and gene multipliers υ ∈ ℝ^n (init U(0, 1)). `Phoenix`
holds R independent copies ("members", leading dimension R) so several runs train in one batched pass.

**Data.** A trajectory is observed at K time points; the model predicts each observation from the previous
one by integrating dx/dt over the interval (the official code's pairwise "trajectory" batches). The
paper integrates with adaptive dopri5 (torchdiffeq); here fixed steps: RK4, or exponential Euler
x ← x + (1 − e^{−ReLU(υ)Δ})(J(x) − x), exact for the decay term and stable for any Δ (one evaluation
per step, used at quick scale).

**Implied network.** The official `extract_model_matrix.py` reads the gene → gene effect matrix
E = (W_sᵀ A_sᵀ + W_pᵀ A_pᵀ) ⊙ ReLU(υ)ᵀ (regulator × target, linear weights only; the exp of the prods
branch is ignored), and its R script normalises |E| over the regulators of every target and scores the
ranking with ROC AUC against the true edges. `edge_scores` and `network_metrics` do the same (plus AUPR and
the precision among the top-k edges, k = number of true edges), excluding self-loops.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from relml.data.files import REPO, data_root, require

__all__ = [
    "EXPRESSION_SETS", "NOISE_LEVELS", "SIM350", "SOLVERS", "GRNData", "Phoenix", "average_precision",
    "check_noise_levels", "compact_sim350", "edge_scores", "effects_matrix", "load_expression", "load_sim350",
    "load_sim350_train", "network_metrics", "noise_label", "pr_curve", "prior_scores", "roc_auc",
    "shifted_softsign", "split_trajectories", "transitions",
]

NOISE_LEVELS = (0.0, 0.025, 0.05, 0.1)
SOLVERS = ("expeuler", "rk4")
SIM350 = REPO / "data" / "dash_grn" / "sim350.npz"
OFFICIAL = "github.com/QuackenbushLab/DASH"


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class GRNData:
    """Trajectories with a known network.

    trajectories: (T, K, n) expression of T trajectories at K time points; times: (T, K);
    truth: (n, n) signed true adjacency, truth[i, j] = ±1 when gene i activates/represses gene j;
    priors: noise level → (n, n) signed noisy prior of the same orientation; inputs: (n,) bool, the
    genes held constant (external inputs of the simulator); names: gene names.
    """

    trajectories: Tensor
    times: Tensor
    truth: Tensor
    priors: dict[float, Tensor]
    inputs: Tensor
    names: tuple[str, ...]

    @property
    def n_genes(self) -> int:
        return int(self.trajectories.shape[-1])


def _read_trajectory_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """PHOENIX's trajectory csv: a header line "n,T", then per trajectory n rows of expression at the K
    time points and one row of time stamps. Returns (T, K, n) expression and (T, K) times."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    n, n_traj = int(float(rows[0][0])), int(float(rows[0][1]))
    values = np.array([[float(v) for v in r if v != ""] for r in rows[1:]], dtype=np.float64)
    if values.shape[0] != n_traj * (n + 1):
        raise ValueError(f"{path}: expected {n_traj} blocks of {n + 1} rows, got {values.shape[0]} rows")
    blocks = values.reshape(n_traj, n + 1, -1)
    return blocks[:, :n, :].transpose(0, 2, 1), blocks[:, n, :]


def _signed_edges(matrix: np.ndarray) -> np.ndarray:
    """(k, 3) int16 rows (from, to, sign) of a signed adjacency matrix."""
    i, j = np.nonzero(matrix)
    return np.stack([i, j, np.sign(matrix[i, j])], axis=1).astype(np.int16)


def _dense(edges: np.ndarray, n: int) -> Tensor:
    out = torch.zeros(n, n)
    idx = torch.from_numpy(edges.astype(np.int64))
    out[idx[:, 0], idx[:, 1]] = idx[:, 2].float()
    return out


def compact_sim350(source: str | Path, out: str | Path = SIM350) -> Path:
    """Write the compact copy of the DASH repository's simulated 350-gene data (a data/README.md entry).

    source: a folder with `simu_350genes_10samples_for_testing.csv` and
    `edge_prior_matrix_simu_350_noise_{0.0,0.025,0.05,0.1}.csv` (350 × 350 signed priors). The true
    network is the noise-0 prior: the official prior maker relocates a fraction 2·noise of the true
    edges at random and keeps the rest with their signs, so at noise 0 it is the truth (its 277 targets
    are exactly the 277 genes that move in the trajectories). Stores float32 expression, the time stamps
    and each prior as (from, to, sign) index rows.
    """
    source, out = Path(source), Path(out)
    files = ["simu_350genes_10samples_for_testing.csv"]
    files += [f"edge_prior_matrix_simu_350_noise_{noise}.csv" for noise in NOISE_LEVELS]
    require(source, files, "copy them from the DASH repository's ground_truth_simulator output")
    expr, times = _read_trajectory_csv(source / files[0])
    arrays: dict[str, np.ndarray] = {"trajectories": expr.astype(np.float32),
                                     "times": times.astype(np.float32),
                                     "noise_levels": np.array(NOISE_LEVELS)}
    for noise, name in zip(NOISE_LEVELS, files[1:], strict=True):
        prior = np.loadtxt(source / name, delimiter=",")
        if prior.shape != (expr.shape[-1],) * 2:
            raise ValueError(f"{name}: expected a square matrix of side {expr.shape[-1]}, got {prior.shape}")
        arrays[f"prior_{noise}"] = _signed_edges(prior)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def load_sim350(path: str | Path | None = None) -> GRNData:
    """The simulated 350-gene data shipped with the repository (10 trajectories at t = 0, 2, 3, 7, 9).

    73 input genes are constant per trajectory; 277 target genes follow Hill-type dynamics. Truth = the
    noise-0 prior (550 signed edges); priors at noise 0.025, 0.05, 0.1 keep 95%, 90%, 80% of the true
    edges and move the rest to random gene pairs. Gene names are not part of the shipped files (the
    shared `gene_names.csv` lists the 690 genes of the larger SIM690 network), so genes are numbered.
    """
    path = Path(path) if path is not None else SIM350
    require(path.parent, [path.name], "regenerate it with data/dash_grn/make_compact.py")
    with np.load(path) as z:
        expr = torch.from_numpy(z["trajectories"].astype(np.float32))
        times = torch.from_numpy(z["times"].astype(np.float32))
        n = expr.shape[-1]
        priors = {float(noise): _dense(z[f"prior_{noise}"], n) for noise in z["noise_levels"]}
    inputs = (expr - expr[:, :1]).abs().amax(dim=(0, 1)) == 0
    names = tuple(f"{'in' if inputs[i] else 'g'}{i:03d}" for i in range(n))
    return GRNData(expr, times, priors[0.0].clone(), priors, inputs, names)


def load_sim350_train(root: str | Path | None = None) -> GRNData:
    """The paper's 150-trajectory training set of the same network (t = 0..9), not publicly shipped.

    Reads `dash_grn/simu_350genes_150samples_train_val.csv` under `root` (default `data/cache/` or
    $RELML_DATA); raises `relml.data.DataMissing` naming it and where to get it when absent. Priors and
    truth come from the shipped compact copy.
    """
    folder = (Path(root) if root is not None else data_root()) / "dash_grn"
    name = "simu_350genes_150samples_train_val.csv"
    how = ("it is not in the public repositories: regenerate it with the PHOENIX/DASH simulator "
           "(github.com/QuackenbushLab/phoenix, ground_truth_simulator/code/final_simulator.R: 150 samples, "
           f"t = 0..9) or ask the authors, and put it in {folder}")
    require(folder, [name], how)
    expr, times = _read_trajectory_csv(folder / name)
    test = load_sim350()
    return GRNData(torch.from_numpy(expr).float(), torch.from_numpy(times).float(), test.truth, test.priors,
                   test.inputs, test.names)


EXPRESSION_SETS = {
    "breast_cancer": ["desmedt_11165genes_1sample_186T.csv", "edge_prior_matrix_desmedt_11165.csv",
                      "PPI_matrix_desmedt_11165.csv"],
    "hematopoiesis": ["hema_B_529genes_2samples.csv", "hema_B_529genes_3testsamples.csv",
                      "edge_prior_matrix_hema_529.csv", "hema_gene_names_529.csv"],
}


def load_expression(name: str, root: str | Path | None = None) -> dict[str, Path]:
    """The paper's real expression data (breast cancer pseudotime, hematopoiesis): paths of its files.

    Looks in `root`/dash_<name>/ (default `data/cache/`, or $RELML_DATA) and raises
    `relml.data.DataMissing` naming the files and where to get them when they are absent.
    """
    if name not in EXPRESSION_SETS:
        raise ValueError(f"name={name!r}: pass one of {', '.join(map(repr, EXPRESSION_SETS))}")
    folder = (Path(root) if root is not None else data_root()) / f"dash_{name}"
    files = EXPRESSION_SETS[name]
    where = ("the DASH authors (their scripts read breast_cancer_data/clean_data/; not in the public "
             "repository)" if name == "breast_cancer" else "hema_data/clean_data/ of " + OFFICIAL)
    require(folder, files, f"get them from {where} and put them in {folder}")
    return {f: folder / f for f in files}


def _check_trajectories(trajectories: Tensor, times: Tensor) -> None:
    if trajectories.ndim != 3:
        raise ValueError(f"trajectories must be (T, K, n), got shape {tuple(trajectories.shape)}")
    if times.shape != trajectories.shape[:2]:
        raise ValueError(f"times must be (T, K) = {tuple(trajectories.shape[:2])}, got {tuple(times.shape)}")
    if trajectories.shape[1] < 2:
        raise ValueError("each trajectory needs at least 2 time points")
    if not (torch.isfinite(trajectories).all() and torch.isfinite(times).all()):
        raise ValueError("trajectories and times must be finite (no NaN or inf): drop or impute missing data")
    if (times.diff(dim=1) <= 0).any():
        raise ValueError("time stamps must increase along each trajectory")


def transitions(trajectories: Tensor, times: Tensor) -> tuple[Tensor, Tensor]:
    """Consecutive observation pairs: inputs (T(K−1), n + 1) = [x(t_k), t_{k+1} − t_k], targets
    (T(K−1), n) = x(t_{k+1}); the interval rides in the last input column."""
    _check_trajectories(trajectories, times)
    t, k, n = trajectories.shape
    start = trajectories[:, :-1].reshape(-1, n)
    dt = times.diff(dim=1).reshape(-1, 1).to(trajectories.dtype)
    return torch.cat([start, dt], dim=1), trajectories[:, 1:].reshape(-1, n)


def split_trajectories(n_traj: int, n_val: int, generator: torch.Generator | None = None
                       ) -> tuple[Tensor, Tensor]:
    """Indices (train, validation) of a random split of whole trajectories (the official split)."""
    if not (isinstance(n_val, int) and 1 <= n_val < n_traj):
        raise ValueError(f"n_val={n_val!r}: pass a number of validation trajectories in [1, {n_traj - 1}]")
    order = torch.randperm(n_traj, generator=generator)
    return order[n_val:].sort().values, order[:n_val].sort().values


# ---------------------------------------------------------------------------------------------
# model


def shifted_softsign(x: Tensor) -> Tensor:
    """σ(x) = (x − ½)/(1 + |x − ½|), PHOENIX's activation (values in (−1, 1), σ(½) = 0)."""
    s = x - 0.5
    return s / (1.0 + s.abs())


class Phoenix(nn.Module):
    """R independent PHOENIX derivative models dx/dt = ReLU(υ) ⊙ (J(x) − x) (module docstring).

    Parameters (leading dimension R = members): `w_sums`, `w_prods` (R, h, n); `bias_sums`,
    `bias_prods` (R, h); `a_sums`, `a_prods` (R, n, h); `gene_mult` (R, n). `forward` maps inputs
    (B, n + 1) = [state, Δt] (see `transitions`) to the predicted states after Δt, (R, B, n).

    With `shared_init` every member starts from the same weights (paired comparisons of pruning arms);
    `generator` makes the init reproducible.
    """

    def __init__(self, n_genes: int, hidden: int = 40, members: int = 1, *, solver: str = "rk4",
                 steps: int = 1, shared_init: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, value in (("n_genes", n_genes), ("hidden", hidden), ("members", members), ("steps", steps)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name}={value!r}: pass a positive integer")
        if solver not in SOLVERS:
            raise ValueError(f"solver={solver!r}: pass one of {', '.join(map(repr, SOLVERS))}")
        self.n_genes, self.hidden, self.members = n_genes, hidden, members
        self.solver, self.steps = solver, steps
        r, h, n = members, hidden, n_genes
        self.w_sums = nn.Parameter(torch.empty(r, h, n))
        self.w_prods = nn.Parameter(torch.empty(r, h, n))
        self.bias_sums = nn.Parameter(torch.empty(r, h))
        self.bias_prods = nn.Parameter(torch.empty(r, h))
        self.a_sums = nn.Parameter(torch.empty(r, n, h))
        self.a_prods = nn.Parameter(torch.empty(r, n, h))
        self.gene_mult = nn.Parameter(torch.empty(r, n))
        self.reset_parameters(shared_init, generator)

    @torch.no_grad()
    def reset_parameters(self, shared_init: bool = True, generator: torch.Generator | None = None) -> None:
        """PHOENIX's init: W sparse (95% zeros per column, std 0.05), biases U(±1/√n), A orthogonal
        (gain 1, torch's sigmoid gain), υ ~ U(0, 1)."""
        draws = 1 if shared_init else self.members
        h, n = self.hidden, self.n_genes
        for r in range(draws):
            for w in (self.w_sums, self.w_prods):
                w[r] = torch.randn(h, n, generator=generator) * 0.05
                zero = torch.rand(h, n, generator=generator).argsort(dim=0)[: math.ceil(0.95 * h)]
                w[r].scatter_(0, zero, 0.0)  # each input column keeps h − ceil(0.95 h) weights
            for b in (self.bias_sums, self.bias_prods):
                b[r] = (torch.rand(h, generator=generator) * 2 - 1) / math.sqrt(n)
            for a in (self.a_sums, self.a_prods):  # orthonormal columns (rows when n < h), as orthogonal_
                tall = torch.randn(max(n, h), min(n, h), generator=generator)
                q, upper = torch.linalg.qr(tall)
                q = q * torch.sign(torch.diagonal(upper))
                a[r] = q if n >= h else q.T
            self.gene_mult[r] = torch.rand(n, generator=generator)
        if shared_init:
            for p in self.parameters():
                p[1:] = p[:1]

    def prunable_weights(self) -> list[nn.Parameter]:
        """The four weight matrices DASH prunes, in the official order: W_p, W_s, A_s, A_p."""
        return [self.w_prods, self.w_sums, self.a_sums, self.a_prods]

    def joint(self, x: Tensor) -> Tensor:
        """J(x): (B, n) or (R, B, n) → (R, B, n)."""
        x = x.expand(self.members, *x.shape[-2:]) if x.ndim == 2 else x
        s = shifted_softsign(x)
        sums = torch.baddbmm(self.bias_sums[:, None, :], s, self.w_sums.transpose(1, 2))
        logits = torch.baddbmm(self.bias_prods[:, None, :], torch.log1p(s), self.w_prods.transpose(1, 2))
        prods = torch.exp(logits)
        return sums @ self.a_sums.transpose(1, 2) + prods @ self.a_prods.transpose(1, 2)

    def rates(self) -> Tensor:
        """ReLU(υ): (R, 1, n)."""
        return torch.relu(self.gene_mult)[:, None, :]

    def derivative(self, x: Tensor) -> Tensor:
        """dx/dt at x: (B, n) or (R, B, n) → (R, B, n)."""
        return self.rates() * (self.joint(x) - x)

    def integrate(self, x: Tensor, dt: Tensor) -> Tensor:
        """The state after Δt from x: x (B, n) or (R, B, n), dt (B, 1) → (R, B, n), `steps` fixed steps."""
        x = x.expand(self.members, *x.shape[-2:]) if x.ndim == 2 else x
        h = dt / self.steps
        if self.solver == "expeuler":
            decay = -torch.expm1(-self.rates() * h)  # 1 − e^{−ReLU(υ) h}
            for _ in range(self.steps):
                x = x + decay * (self.joint(x) - x)
            return x
        for _ in range(self.steps):
            k1 = self.derivative(x)
            k2 = self.derivative(x + 0.5 * h * k1)
            k3 = self.derivative(x + 0.5 * h * k2)
            k4 = self.derivative(x + h * k3)
            x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return x

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != 2 or inputs.shape[1] != self.n_genes + 1:
            raise ValueError(f"inputs must be (B, n + 1) = (B, {self.n_genes + 1}): states and Δt "
                             f"(see relml.bio.grn.transitions), got {tuple(inputs.shape)}")
        return self.integrate(inputs[:, :-1], inputs[:, -1:])

    @torch.no_grad()
    def density(self) -> Tensor:
        """Fraction of nonzero weights over W_s, W_p, A_s, A_p per member: (R,)."""
        kept = sum((w != 0).flatten(1).sum(1) for w in self.prunable_weights())
        total = sum(w[0].numel() for w in self.prunable_weights())
        return kept.float() / total


# ---------------------------------------------------------------------------------------------
# the implied network and its evaluation


@torch.no_grad()
def effects_matrix(model: Phoenix) -> Tensor:
    """E = (W_sᵀ A_sᵀ + W_pᵀ A_pᵀ) ⊙ ReLU(υ)ᵀ per member: (R, n, n), E[r, i, j] = effect of gene i on j."""
    e = model.w_sums.transpose(1, 2) @ model.a_sums.transpose(1, 2)
    e = e + model.w_prods.transpose(1, 2) @ model.a_prods.transpose(1, 2)
    return e * torch.relu(model.gene_mult)[:, None, :]


@torch.no_grad()
def edge_scores(model: Phoenix) -> Tensor:
    """|E| normalised over the regulators of each target (the official evaluation): (R, n, n)."""
    e = effects_matrix(model).abs()
    total = e.sum(dim=1, keepdim=True)
    return torch.where(total > 0, e / total.clamp_min(1e-30), torch.zeros_like(e))


def prior_scores(prior: Tensor) -> Tensor:
    """A prior as a ranking of edges: |P| (n, n)."""
    return prior.abs().float()


def _ranked_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score threshold, highest first."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of every run of tied scores
    tp = np.cumsum(y)[last]
    return tp, (last + 1) - tp


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP = Σ_k (R_k − R_{k−1}) P_k over distinct thresholds (ties count together), as scikit-learn's
    `average_precision_score`."""
    tp, fp = _ranked_counts(labels, scores)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids between distinct thresholds), as sklearn's `roc_auc_score`."""
    tp, fp = _ranked_counts(labels, scores)
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


def network_metrics(scores: Tensor, truth: Tensor) -> dict[str, np.ndarray]:
    """AUPR, AUROC and precision at k = #true edges of edge scores against the true network.

    scores: (n, n) or (R, n, n), larger = more confident that i → j; truth: (n, n), nonzero = edge.
    Self-loops are excluded. Returns arrays (R,) (or 0-d for one matrix) under "aupr", "auroc",
    "precision_at_k".
    """
    if truth.ndim != 2 or truth.shape[0] != truth.shape[1]:
        raise ValueError(f"truth must be a square (n, n) matrix, got shape {tuple(truth.shape)}")
    single = scores.ndim == 2
    scores = scores[None] if single else scores
    if scores.ndim != 3 or scores.shape[1:] != truth.shape:
        raise ValueError(f"scores must be (n, n) or (R, n, n) with n = {truth.shape[0]}, "
                         f"got shape {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    off = ~torch.eye(truth.shape[0], dtype=torch.bool)
    labels = (truth[off] != 0).numpy()
    if labels.all() or not labels.any():
        raise ValueError("truth needs both edges and non-edges off the diagonal")
    k = int(labels.sum())
    out: dict[str, list[float]] = {"aupr": [], "auroc": [], "precision_at_k": []}
    for s in scores:
        flat = s[off].double().numpy()
        out["aupr"].append(average_precision(labels, flat))
        out["auroc"].append(roc_auc(labels, flat))
        top = np.argsort(-flat, kind="stable")[:k]
        out["precision_at_k"].append(float(labels[top].mean()))
    return {key: np.asarray(v[0] if single else v) for key, v in out.items()}


def pr_curve(scores: Tensor, truth: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold of edge scores (n, n) against the true network,
    self-loops excluded."""
    if scores.shape != truth.shape or truth.ndim != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and truth {tuple(truth.shape)} must both be (n, n)")
    off = ~torch.eye(truth.shape[0], dtype=torch.bool)
    tp, fp = _ranked_counts((truth[off] != 0).numpy(), scores[off].double().numpy())
    return tp / tp[-1], tp / (tp + fp)


def noise_label(noise: float) -> str:
    """'0%', '2.5%', ... for a prior noise level."""
    return f"{100 * noise:g}%"


def check_noise_levels(levels: Sequence[float], available: Sequence[float]) -> list[float]:
    """The requested prior noise levels, each one of the shipped ones."""
    out = []
    for lv in levels:
        if not any(abs(float(lv) - a) < 1e-12 for a in available):
            raise ValueError(f"noise level {lv!r} is not shipped: pass some of {list(available)}")
        out.append(float(lv))
    return out
