r"""DASH: pruning guided by a prior network (Hossain, Fischer, Burkholz & Quackenbush, NeurIPS 2024).

Iterative pruning of a `relml.bio.grn.Phoenix` model whose per-layer score mixes domain knowledge and
the weights (paper, Sec. 3; official `ode_net/code/train_DASH_simu.py`):

.. math::  \Omega = \lambda\,|\hat P| + (1 - \lambda)\,\frac{|W|}{\sum |W|}

where P̂ is the least-squares "best guess" of the layer's connectivity given the prior P (n × n,
P[i, j] ≠ 0 when gene i regulates j) and a previous score matrix S:

- input layers W_s, W_p (h × n), with the interaction-partner matrix PPI = |P||P|ᵀ / Σ(|P||P|ᵀ):
  P̂ = (S Sᵀ)⁻¹ S · PPI, the least-squares X of PPI ≈ Sᵀ X, S the layer's own previous score (h × n,
  initially U(0, 1)); the data term of W_p is exp(W_p)/Σ exp(W_p) (the prods branch acts through exp);
- output layers A_s, A_p (n × h): P̂ = (S |P|)ᵀ (S Sᵀ)⁻¹, the least-squares C of |P|ᵀ ≈ C S, S the
  updated score of the matching input layer; the data term is |A| ⊙ ReLU(υ) (row-wise), normalised.

After each prune S ← Ω. P̂ is not normalised, so λ's effective weight depends on the scale of PPI (the
official simulation values are λ = 0.05 for input and 0.01 for output layers). We add an optional ridge
ρ · tr(S Sᵀ)/h to S Sᵀ against rank deficiency (0 = the paper's formula).

Schedule (official simulation script): a first prune of 70% of each layer before epoch 3, then 10% of the
remaining weights before every epoch divisible by 10, until the last; after each prune the learning rate
is reset (gene multipliers 5×) and a fresh ReduceLROnPlateau (factor 0.9, patience 3, min 4e-5) starts.
λ = 0 is magnitude IMP (the paper's baseline). The L1 baseline trains the dense model with
λ_L1 Σ|W| added to the loss and then keeps the largest |W| per layer at the pruned arms' density.

`run_arms` trains several arms (IMP, L1, DASH at several prior noise levels, ...) as the members of one
batched `Phoenix` from the same initial weights, each member with its own learning-rate schedule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from relml.bio.grn import GRNData, Phoenix, edge_scores, network_metrics, split_trajectories, transitions
from relml.sparse.gradual import magnitude_masks
from relml.sparse.masks import MaskCallback, check_density
from relml.train import fit

__all__ = [
    "Arm", "ArmsResult", "DashPruning", "PairLoss", "best_guess_input", "best_guess_output", "check_lambda",
    "dash_score", "data_terms", "normalized", "partner_matrix", "prune_schedule", "run_arms", "run_seeds",
    "schedule_density", "seed_table", "threshold_masks",
]


def check_lambda(value: Any, name: str = "lam") -> float:
    """A mixing weight λ ∈ [0, 1] as a float; ValueError saying what to pass otherwise."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}={value!r}: pass a weight in [0, 1] (0 = magnitude pruning, 1 = prior only)")
    return float(value)


def _check_prior(prior: Tensor, finite: bool = True) -> Tensor:
    if prior.ndim < 2 or prior.shape[-1] != prior.shape[-2]:
        raise ValueError(f"prior must be (..., n, n), got shape {tuple(prior.shape)}")
    if finite and not torch.isfinite(prior).all():
        raise ValueError("prior contains NaN or inf")
    return prior


def partner_matrix(prior: Tensor) -> Tensor:
    """Interaction partners PPI = |P||P|ᵀ normalised to sum 1: (..., n, n) → (..., n, n).

    PPI[i, k] counts the targets genes i and k share. An empty prior gives zeros."""
    a = _check_prior(prior).abs().to(torch.float64)
    ppi = a @ a.transpose(-1, -2)
    total = ppi.sum(dim=(-1, -2), keepdim=True)
    return torch.where(total > 0, ppi / total.clamp_min(1e-300), ppi)


def _gram_solve(score: Tensor, rhs: Tensor, ridge: float) -> Tensor:
    """(S Sᵀ + ρ tr(S Sᵀ)/h I)⁻¹ rhs for S (..., h, n), rhs (..., h, m), solved in float64."""
    s = score.to(torch.float64)
    gram = s @ s.transpose(-1, -2)
    if ridge > 0:
        h = gram.shape[-1]
        scale = gram.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None] / h
        gram = gram + ridge * scale * torch.eye(h, dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram, rhs.to(torch.float64))


def _check_guess(score: Tensor, other: Tensor, ridge: float, name: str) -> None:
    """score (..., h, n) against an (..., n, n) matrix, and a non-negative ridge."""
    if score.ndim < 2 or other.shape[-2:] != (score.shape[-1],) * 2:
        raise ValueError(f"the score must be (..., h, n) and {name} (..., n, n); got {tuple(score.shape)} "
                         f"and {tuple(other.shape)}")
    if ridge < 0:
        raise ValueError(f"ridge={ridge!r}: pass a non-negative ridge")


def best_guess_input(score: Tensor, partners: Tensor, ridge: float = 0.0) -> Tensor:
    """P̂ = (S Sᵀ)⁻¹ S · PPI: the least-squares X with PPI ≈ Sᵀ X. score (..., h, n), partners
    (..., n, n) → (..., h, n) float64 (S · PPI in the inputs' precision, the h × h solve in float64)."""
    _check_guess(score, partners, ridge, "partners")
    dtype = torch.promote_types(score.dtype, partners.dtype)
    return _gram_solve(score, score.to(dtype) @ partners.to(dtype), ridge)


def best_guess_output(score_in: Tensor, prior: Tensor, ridge: float = 0.0) -> Tensor:
    """P̂ = (S |P|)ᵀ (S Sᵀ)⁻¹: the least-squares C with |P|ᵀ ≈ C S. score_in (..., h, n) of the matching
    input layer, prior (..., n, n) → (..., n, h) float64 (S |P| in the inputs' precision)."""
    _check_prior(prior, finite=False)
    _check_guess(score_in, prior, ridge, "prior")
    dtype = torch.promote_types(score_in.dtype, prior.dtype)
    rhs = score_in.to(dtype) @ prior.abs().to(dtype)  # (h, n); C = rhsᵀ G⁻¹ = (G⁻¹ rhs)ᵀ, G symmetric
    return _gram_solve(score_in, rhs, ridge).transpose(-1, -2)


def normalized(x: Tensor) -> Tensor:
    """x / Σx over the last two dimensions (per member for stacked (R, a, b) tensors)."""
    total = x.sum(dim=(-1, -2), keepdim=True)
    return x / total.clamp_min(1e-30)


@torch.no_grad()
def data_terms(model: Phoenix) -> list[Tensor]:
    """The weights' part of Ω for W_p, W_s, A_s, A_p (`Phoenix.prunable_weights` order), each (R, ...):
    exp(W_p)/Σ, |W_s|/Σ, and |A| ⊙ ReLU(υ) (rows = genes) normalised."""
    rate = torch.relu(model.gene_mult)[:, :, None]
    return [normalized(torch.exp(model.w_prods)), normalized(model.w_sums.abs()),
            normalized(model.a_sums.abs() * rate), normalized(model.a_prods.abs() * rate)]


def dash_score(data_term: Tensor, guess: Tensor, lam: float | Tensor) -> Tensor:
    """Ω = λ|P̂| + (1 − λ) · data_term; `lam` a number in [0, 1] or one per member (R,) for stacked
    (R, a, b) inputs. Where λ = 0 the prior term is dropped (so a singular P̂ cannot leak NaN)."""
    if data_term.shape != guess.shape:
        raise ValueError(f"data_term {tuple(data_term.shape)} and guess {tuple(guess.shape)} must match")
    if isinstance(lam, Tensor):
        for i, v in enumerate(lam.flatten().tolist()):
            check_lambda(v, f"lam[{i}]")
        lam = lam.to(torch.float64).reshape(-1, *([1] * (data_term.ndim - 1)))
    else:
        lam = torch.tensor(check_lambda(lam), dtype=torch.float64)
    zero = torch.zeros((), dtype=torch.float64)
    prior_part = torch.where(lam > 0, lam * guess.abs().to(torch.float64), zero)
    return prior_part + (1 - lam) * data_term.to(torch.float64)


def prune_schedule(epochs: int, start: int, every: int) -> list[int]:
    """The 1-based epochs before which DASH/IMP prune: `start`, then every multiple of `every` after it
    and before the last epoch (official schedule). `start` >= 2: the model trains an epoch first."""
    for name, v, lo in (("epochs", epochs, 1), ("start", start, 2), ("every", every, 1)):
        if not (isinstance(v, int) and v >= lo):
            raise ValueError(f"{name}={v!r}: pass an integer >= {lo}")
    return sorted({start} | {e for e in range(start + 1, epochs) if e % every == 0})


def schedule_density(epochs: int, start: int, every: int, first: float, amount: float) -> float:
    """Layer density after the whole schedule: (1 − first)(1 − amount)^(prunes − 1)."""
    k = len(prune_schedule(epochs, start, every))
    return (1 - first) * (1 - amount) ** (k - 1)


class PairLoss:
    """Σ_r mean_(b, g)(pred_r − y)² + Σ_r l1_r Σ|W_r| over the four weight matrices: a `fit` loss.

    pred (R, B, n), y (B, n); `l1` (R,) per-member L1 coefficients (zeros = plain MSE)."""

    def __init__(self, model: Phoenix, l1: Tensor | None = None) -> None:
        self.model = model
        self.l1 = l1 if l1 is not None else torch.zeros(model.members)
        if self.l1.shape != (model.members,) or (self.l1 < 0).any():
            raise ValueError(f"l1 must be ({model.members},) non-negative coefficients, got {self.l1}")

    def __call__(self, pred: Tensor, y: Tensor) -> Tensor:
        loss = ((pred - y) ** 2).mean(dim=(1, 2)).sum()
        if (self.l1 > 0).any():
            l1 = sum(w.abs().flatten(1).sum(1) for w in self.model.prunable_weights())
            loss = loss + (self.l1.to(l1.dtype) * l1).sum()
        return loss


class DashPruning:
    """The DASH/IMP pruning loop as a `relml.train.fit` callback (module docstring).

    model: a `Phoenix` with R members; optimizer: its Adam (groups as built by `run_arms`); lam_in,
    lam_out: (R,) mixing weights of input/output layers (0 = IMP); priors: (R, n, n) signed priors
    (zeros where λ = 0); prune: (R,) bool, members that are pruned (others only train, e.g. L1);
    val_data: (inputs, targets) for the validation loss that drives the plateau schedules;
    schedule: `prune_schedule(epochs, start, every)`; first / amount: fractions pruned at the first /
    later prunes. Each member has its own ReduceLROnPlateau (factor, patience, min_lr, absolute
    threshold, as torch's) applied by rescaling its Adam update (exact: Adam's moments do not depend
    on the learning rate). `history` holds per-epoch validation MSE and density (R,) each.
    """

    def __init__(self, model: Phoenix, optimizer: torch.optim.Optimizer, *, lam_in: Tensor, lam_out: Tensor,
                 priors: Tensor, prune: Tensor, val_data: tuple[Tensor, Tensor], schedule: Sequence[int],
                 first: float = 0.7, amount: float = 0.1, patience: int = 3, factor: float = 0.9,
                 min_lr: float = 4e-5, threshold: float = 1e-6, ridge: float = 1e-6,
                 generator: torch.Generator | None = None) -> None:
        r, n = model.members, model.n_genes
        for name, v in (("lam_in", lam_in), ("lam_out", lam_out), ("prune", prune)):
            if v.shape != (r,):
                raise ValueError(f"{name} must have one entry per member, shape ({r},), got {tuple(v.shape)}")
        for i in range(r):
            check_lambda(float(lam_in[i]), f"lam_in[{i}]")
            check_lambda(float(lam_out[i]), f"lam_out[{i}]")
        if priors.shape != (r, n, n):
            raise ValueError(f"priors must be ({r}, {n}, {n}), got {tuple(priors.shape)}")
        _check_prior(priors)
        for name, v in (("first", first), ("amount", amount)):
            if not (isinstance(v, float) and 0.0 <= v < 1.0):
                raise ValueError(f"{name}={v!r}: pass the fraction of remaining weights pruned, in [0, 1)")
        self.model, self.optimizer = model, optimizer
        self.lam_in, self.lam_out = lam_in.double(), lam_out.double()
        # S · PPI and S |P| run in float32 (the h × h solves in float64): the prunes stay cheap
        self.prior_abs = priors.abs().float()
        self.partners = partner_matrix(priors).float()
        self.prune_members = prune.bool()
        self.val_data = val_data
        self.schedule = sorted(set(schedule))
        self.first, self.amount, self.ridge = first, amount, ridge
        self.patience, self.factor, self.min_lr, self.threshold = patience, factor, min_lr, threshold
        weights = model.prunable_weights()
        self.mask = MaskCallback(weights, [torch.ones_like(w) for w in weights])
        # previous scores S: U(0, 1), as the official code starts them
        self.scores = [torch.rand(w.shape, generator=generator) for w in weights]
        self.base_lr = [g["lr"] for g in optimizer.param_groups]
        self.lr = torch.tensor(self.base_lr, dtype=torch.float64).repeat(r, 1)  # (R, groups)
        self._reset_plateau()
        self._before: list[Tensor] | None = None
        optimizer.register_step_pre_hook(self._snapshot)
        optimizer.register_step_post_hook(self._rescale)
        self.history: dict[str, list[np.ndarray]] = {"val_mse": [], "density": []}
        self.prunes = 0

    # per-member learning rates -------------------------------------------------------------

    def _reset_plateau(self) -> None:
        r = self.model.members
        self.best = torch.full((r,), math.inf, dtype=torch.float64)
        self.bad = torch.zeros(r, dtype=torch.long)

    def _reset_lr(self) -> None:
        self.lr = torch.tensor(self.base_lr, dtype=torch.float64).repeat(self.model.members, 1)
        self._reset_plateau()

    def _uniform(self) -> bool:
        return bool((self.lr == torch.tensor(self.base_lr, dtype=torch.float64)).all())

    def _snapshot(self, *_: Any) -> None:
        self._before = None if self._uniform() else [p.detach().clone() for g in self.optimizer.param_groups
                                                     for p in g["params"]]

    @torch.no_grad()
    def _rescale(self, *_: Any) -> None:
        if self._before is None:
            return
        it = iter(self._before)
        for gi, group in enumerate(self.optimizer.param_groups):
            scale = (self.lr[:, gi] / group["lr"]).float()
            for p in group["params"]:
                old = next(it)
                p.copy_(old + scale.reshape(-1, *([1] * (p.ndim - 1))) * (p - old))

    def _plateau_step(self, val: Tensor) -> None:
        """torch's ReduceLROnPlateau(mode='min', threshold_mode='abs', cooldown=0) per member."""
        better = val < self.best - self.threshold
        self.best = torch.where(better, val, self.best)
        self.bad = torch.where(better, torch.zeros_like(self.bad), self.bad + 1)
        cut = self.bad > self.patience
        if cut.any():
            new = torch.clamp(self.lr * self.factor, min=self.min_lr)
            new = torch.where((self.lr - new) > 1e-9, new, self.lr)
            self.lr = torch.where(cut[:, None], new, self.lr)
            self.bad = torch.where(cut, torch.zeros_like(self.bad), self.bad)

    # pruning -----------------------------------------------------------------------------------

    @torch.no_grad()
    def validation_mse(self) -> Tensor:
        """Per-member MSE on the validation pairs: (R,)."""
        x, y = self.val_data
        return ((self.model(x) - y) ** 2).mean(dim=(1, 2)).double()

    @torch.no_grad()
    def prune(self, fraction: float) -> None:
        """Prune `fraction` of the remaining weights of every layer of the pruned members by Ω."""
        terms = data_terms(self.model)
        scores = [t.double() for t in terms]
        # only members with λ > 0 need P̂ (at λ = 0, Ω is the data term: magnitude IMP)
        inp = torch.nonzero(self.lam_in > 0).flatten()
        out = torch.nonzero(self.lam_out > 0).flatten()
        for i in (0, 1):  # input layers: W_p, W_s with PPI
            guess = best_guess_input(self.scores[i][inp], self.partners[inp], self.ridge)
            scores[i][inp] = dash_score(terms[i][inp], guess, self.lam_in[inp])
        for i, j in ((2, 1), (3, 0)):  # output layers A_s ↔ W_s, A_p ↔ W_p
            s_in = torch.where(self.prune_members.reshape(-1, 1, 1), scores[j].float(), self.scores[j])
            guess = best_guess_output(s_in[out], self.prior_abs[out], self.ridge)
            scores[i][out] = dash_score(terms[i][out], guess, self.lam_out[out])
        rows = torch.nonzero(self.prune_members).flatten()
        for i, (mask, score) in enumerate(zip(self.mask.masks, scores, strict=True)):
            score = score.float()
            self.scores[i][rows] = score[rows]
            kept = mask[rows].flatten(1).sum(1).double()
            target = 1.0 - kept * (1 - fraction) / mask[0].numel()
            ranked = torch.where(mask[rows] > 0, score[rows].clamp_min(1e-37), 0.0)  # kept ones > pruned ones
            new = magnitude_masks([ranked], target.tolist(), scope="layer", stacked=True)[0]
            mask[rows] = mask[rows] * new.to(mask.dtype)
        self.mask.apply()
        self.prunes += 1

    def on_step_end(self, model: nn.Module, step: int) -> None:
        self.mask.apply()

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        val = self.validation_mse()
        self._plateau_step(val)
        self.history["val_mse"].append(val.numpy())
        self.history["density"].append(self.model.density().double().numpy())
        upcoming = epoch + 2  # fit's epochs count from 0; the official loop prunes before 1-based epochs
        if upcoming in self.schedule:
            self.prune(self.first if self.prunes == 0 else self.amount)
            self._reset_lr()
        return {"val_mse": float(val.mean())}


@torch.no_grad()
def threshold_masks(model: Phoenix, density: float, members: Tensor) -> list[Tensor]:
    """Keep the largest |W| of every layer of the chosen `members` at `density` (others untouched); the
    weights are zeroed in place. Returns the masks (Phoenix.prunable_weights order)."""
    check_density(density)
    masks = []
    for w in model.prunable_weights():
        target = [1.0 - density if bool(m) else 0.0 for m in members]
        mask = magnitude_masks([w.detach()], target, scope="layer", stacked=True)[0]
        w.mul_(mask)
        masks.append(mask)
    return masks


@dataclass(frozen=True)
class Arm:
    """One training arm: `lam_in`/`lam_out` mixing weights (0 = magnitude IMP), the prior's `noise` level
    (None: no prior), `l1` coefficient, `prune` (False: train dense, then threshold if l1 > 0)."""

    name: str
    lam_in: float = 0.0
    lam_out: float = 0.0
    noise: float | None = None
    l1: float = 0.0
    prune: bool = True

    def __post_init__(self) -> None:
        check_lambda(self.lam_in, "lam_in")
        check_lambda(self.lam_out, "lam_out")
        if (self.lam_in > 0 or self.lam_out > 0) and self.noise is None:
            raise ValueError(f"arm {self.name!r}: λ > 0 needs a prior: pass noise=<a shipped level>")
        if not (isinstance(self.l1, (int, float)) and self.l1 >= 0):
            raise ValueError(f"arm {self.name!r}: l1={self.l1!r}: pass a non-negative coefficient")


@dataclass
class ArmsResult:
    """Per arm (in the order given): validation MSE, weight density and network metrics after training;
    `history` per-epoch validation MSE / density (epochs, R)."""

    arms: list[Arm]
    seed: int
    val_mse: np.ndarray
    density: np.ndarray
    metrics: dict[str, np.ndarray]
    scores: Tensor = field(repr=False)
    history: dict[str, np.ndarray] = field(repr=False)

    def index(self, name: str) -> int:
        names = [a.name for a in self.arms]
        if name not in names:
            raise KeyError(f"no arm {name!r}; arms: {names}")
        return names.index(name)

    def get(self, key: str, name: str) -> float:
        """`key` ('val_mse', 'density' or a metric) of arm `name`."""
        table = {"val_mse": self.val_mse, "density": self.density, **self.metrics}
        return float(table[key][self.index(name)])


def run_arms(data: GRNData, arms: Sequence[Arm], *, seed: int = 0, hidden: int = 40, epochs: int = 200,
             batch_size: int = 4, lr: float = 1e-3, start: int = 3, every: int = 10, first: float = 0.7,
             amount: float = 0.1, n_val: int = 2, solver: str = "rk4", steps: int = 1, patience: int = 3,
             factor: float = 0.9, min_lr: float = 4e-5, ridge: float = 1e-6,
             train_data: GRNData | None = None) -> ArmsResult:
    """Train every arm as a member of one batched `Phoenix` from the same init and evaluate it.

    The trajectories of `train_data` (e.g. the paper's 150), else of `data`, are split into train and
    `n_val` validation trajectories (seeded); `data` gives the truth and the priors. Batches of
    `batch_size` transitions, Adam(lr; gene multipliers 5 lr). After training, arms with l1 > 0 and
    prune=False are thresholded to the pruned arms' final density (the schedule's density when none is
    pruned). Validation MSE is measured after that.
    """
    arms = list(arms)
    if not arms:
        raise ValueError("pass at least one Arm")
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("arm names must be unique")
    for a in arms:
        if a.noise is not None and not any(abs(a.noise - k) < 1e-12 for k in data.priors):
            raise ValueError(f"arm {a.name!r}: noise={a.noise!r} is not a shipped prior; "
                             f"pass one of {sorted(data.priors)}")
    gen = torch.Generator().manual_seed(seed)
    source = train_data if train_data is not None else data
    train_idx, val_idx = split_trajectories(source.trajectories.shape[0], n_val, gen)
    train = transitions(source.trajectories[train_idx], source.times[train_idx])
    val = transitions(source.trajectories[val_idx], source.times[val_idx])
    n = data.n_genes
    model = Phoenix(n, hidden, len(arms), solver=solver, steps=steps, shared_init=True, generator=gen)
    optimizer = torch.optim.Adam([
        {"params": [model.w_sums, model.bias_sums, model.w_prods, model.bias_prods, model.a_sums,
                    model.a_prods]},
        {"params": [model.gene_mult], "lr": 5 * lr},
    ], lr=lr, weight_decay=0.0)

    def prior_of(arm: Arm) -> Tensor:
        if arm.noise is None:
            return torch.zeros(n, n)
        return next(p for k, p in data.priors.items() if abs(k - arm.noise) < 1e-12)

    pruner = DashPruning(
        model, optimizer,
        lam_in=torch.tensor([a.lam_in for a in arms]), lam_out=torch.tensor([a.lam_out for a in arms]),
        priors=torch.stack([prior_of(a) for a in arms]), prune=torch.tensor([a.prune for a in arms]),
        val_data=val, schedule=prune_schedule(epochs, start, every), first=first, amount=amount,
        patience=patience, factor=factor, min_lr=min_lr, ridge=ridge, generator=gen)
    loss = PairLoss(model, torch.tensor([float(a.l1) for a in arms]))
    fit(model, train, optimizer, epochs=epochs, loss_fn=loss, batch_size=batch_size, callbacks=[pruner],
        seed=seed, progress=False, desc="dash")
    pruner.mask.remove()

    dense_l1 = torch.tensor([a.l1 > 0 and not a.prune for a in arms])
    if dense_l1.any():
        pruned = torch.tensor([a.prune for a in arms])
        target = (float(model.density()[pruned].mean()) if pruned.any()
                  else schedule_density(epochs, start, every, first, amount))
        threshold_masks(model, target, dense_l1)
    with torch.no_grad():
        x, y = val
        val_mse = ((model(x) - y) ** 2).mean(dim=(1, 2)).numpy()
    scores = edge_scores(model)
    metrics = network_metrics(scores, data.truth)
    history = {k: np.stack(v) for k, v in pruner.history.items()}
    return ArmsResult(arms, seed, val_mse, model.density().numpy(), metrics, scores, history)


def run_seeds(data: GRNData, arms: Sequence[Arm], seeds: Sequence[int], **kwargs: Any) -> list[ArmsResult]:
    """`run_arms` once per seed (same arms and settings)."""
    return [run_arms(data, arms, seed=int(s), **kwargs) for s in seeds]


def seed_table(results: Sequence[ArmsResult], key: str) -> np.ndarray:
    """(seeds, arms) array of `key` ('val_mse', 'density' or a metric) across `run_seeds` results."""
    if not results:
        raise ValueError("pass at least one ArmsResult")
    names = [a.name for a in results[0].arms]
    return np.array([[r.get(key, n) for n in names] for r in results])
