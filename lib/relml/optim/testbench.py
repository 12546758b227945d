r"""A test bench for implicit biases: underdetermined sparse linear regression and diagonal linear networks.

Shared by the HAM, HORST and PILoT notebooks (and any optimizer in `relml.optim`). S independent problems
y_s = X_s θ*_s with X_s: (n, d), n < d, and a k-sparse θ*_s (`relml.data.sparse_regression`) are solved
together: the models hold one row per problem, θ: (S, d), and the loss is the sum of the problems' losses

.. math::  L(\theta) = \sum_s \frac{1}{2n}\,\|X_s\theta_s - y_s\|_2^2,

so each row's gradient is exactly its own problem's and any elementwise optimizer (GD, SGD with momentum,
Adam, HAM's mirror step) trains the S problems exactly as S separate runs. Underdetermined, the
interpolants form an affine space; which one an optimizer reaches is its implicit bias. Two references
are computed per problem: the minimum-L2 interpolant X⁺y (gradient descent from 0) and the minimum-L1
interpolant (basis pursuit, a linear program) that sparse recovery aims at.

Models: `LinearRegressor` (θ itself), and `DiagonalLinearNetwork`, θ = m ⊙ w, whose gradient flow is
a mirror flow with the hyperbolic entropy of scale m² − w² (Woodworth et al. 2020): from
m_0 = √a, w_0 = 0 it tends to the min-L1 interpolant as a → 0, but ever more slowly, since its inverse
metric 2|θ| (for a → 0) vanishes near zero; this is the slowness HAM removes.

`run_regression` trains a model with any optimizer (an optional penalty term and per-step callback let
PILoT's time-dependent regularisation in) and records, per problem: loss, recovery error ‖θ − θ*‖₂,
‖θ‖₁, ‖θ‖₁/‖θ‖₂, support recovery (share of θ*'s support among the k largest |θ_i|), sign agreement on
the support and the distances to both reference interpolants (the L2 → L1 transition over time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor, nn

from relml.data import sparse_regression
from relml.train import History

__all__ = ["METRICS", "Arms", "ArmsRun", "DiagonalLinearNetwork", "LinearRegressor", "RegressionProblem",
           "Trajectory", "WeightSnapshot", "imbalanced_init", "min_l1_interpolant", "regression_problems",
           "run_regression", "squared_loss", "steps_to", "train_arms"]

METRICS = ("loss", "recovery", "l1", "l1_over_l2", "support", "signs", "dist_min_l2", "dist_min_l1")


# ---------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class RegressionProblem:
    """S stacked problems: x (S, n, d), y (S, n), truth theta (S, d), and the references min_l2, min_l1
    (S, d): the minimum-L2 and minimum-L1 interpolants of each problem."""

    x: Tensor
    y: Tensor
    theta: Tensor
    min_l2: Tensor
    min_l1: Tensor
    k: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(S, n, d)."""
        s, n, d = self.x.shape
        return s, n, d

    def to(self, device: torch.device | str) -> RegressionProblem:
        return RegressionProblem(self.x.to(device), self.y.to(device), self.theta.to(device),
                                 self.min_l2.to(device), self.min_l1.to(device), self.k)


def min_l1_interpolant(x: Tensor, y: Tensor) -> Tensor:
    """argmin ‖θ‖₁ s.t. Xθ = y (basis pursuit) for x: (n, d), y: (n,), as the LP over θ = u − v, u, v ≥ 0."""
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"pass x (n, d) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}")
    a = x.double().cpu().numpy()
    d = a.shape[1]
    res = linprog(np.ones(2 * d), A_eq=np.hstack([a, -a]), b_eq=y.double().cpu().numpy(), bounds=(0, None),
                  method="highs")
    if res.status != 0:
        raise ValueError(f"basis pursuit failed ({res.message}): is Xθ = y solvable (n <= d, full rank)?")
    return torch.from_numpy(res.x[:d] - res.x[d:]).to(dtype=x.dtype, device=x.device)


def regression_problems(n: int, d: int, k: int, seeds: Sequence[int] | int, noise: float = 0.0,
                        dtype: torch.dtype = torch.float64) -> RegressionProblem:
    """One underdetermined k-sparse problem per seed (`relml.data.sparse_regression`), stacked.

    dtype float64 by default: the bench compares interpolants to 1e-6, below float32's resolution of
    ‖Xθ − y‖ after many steps.
    """
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("pass at least one seed")
    if n >= d:
        raise ValueError(f"n={n} >= d={d}: the bench needs an underdetermined problem (n < d)")
    data = [sparse_regression(n, d, k, noise=noise, seed=s) for s in seeds]
    x = torch.stack([p.x for p in data]).to(dtype)
    y = torch.stack([p.y for p in data]).to(dtype)
    theta = torch.stack([p.theta for p in data]).to(dtype)
    min_l2 = torch.linalg.pinv(x) @ y.unsqueeze(-1)
    min_l1 = torch.stack([min_l1_interpolant(xs, ys) for xs, ys in zip(x, y, strict=True)])
    return RegressionProblem(x, y, theta, min_l2.squeeze(-1), min_l1, k)


def squared_loss(theta: Tensor, problem: RegressionProblem) -> Tensor:
    """Per-problem loss (1/2n)‖X_s θ_s − y_s‖²: theta (S, d) → (S,)."""
    _, n, _ = problem.shape
    residual = torch.bmm(problem.x, theta.unsqueeze(-1)).squeeze(-1) - problem.y
    return residual.square().sum(-1) / (2 * n)


# ---------------------------------------------------------------------------------------------
# models


class LinearRegressor(nn.Module):
    """θ itself as the parameter, one row per problem: theta (S, d), initialised to `init` (default 0)."""

    def __init__(self, problems: int, dim: int, init: float | Tensor = 0.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        value = torch.as_tensor(init, dtype=dtype).expand(problems, dim).clone()
        self.weight = nn.Parameter(value)

    @property
    def theta(self) -> Tensor:
        return self.weight


def imbalanced_init(theta0: Tensor, imbalance: float | Tensor) -> tuple[Tensor, Tensor]:
    """(m_0, w_0) with m_0 ⊙ w_0 = θ_0 and m_0² − w_0² = imbalance ≥ 0:
    m_0 = √((b + √(b² + 4θ_0²))/2), w_0 = θ_0/m_0 (b = 0 is the balanced init |m_0| = |w_0| = √|θ_0|)."""
    b = torch.as_tensor(imbalance, dtype=theta0.dtype)
    if bool((b < 0).any()) or not bool(torch.isfinite(b).all()):
        raise ValueError(f"imbalance={imbalance!r}: pass m² − w² >= 0 (the scale of the hyperbolic entropy)")
    m = ((b + (b.square() + 4 * theta0.square()).sqrt()) / 2).sqrt()
    if bool((m == 0).any()):
        raise ValueError("θ_0 = 0 with imbalance 0 gives m = w = 0, a saddle that never moves: "
                         "pass imbalance > 0")
    return m, theta0 / m


class DiagonalLinearNetwork(nn.Module):
    """θ = m ⊙ w with m, w: (S, d) (a diagonal linear network, the pointwise overparameterisation).

    Initialised by `imbalanced_init(theta0, imbalance)`: by default θ_0 = 0 and m_0² − w_0² = a, i.e.
    m_0 = √a, w_0 = 0, whose gradient flow is the mirror flow of the hyperbolic entropy of scale a.
    """

    def __init__(self, problems: int, dim: int, imbalance: float = 1e-3, theta0: float | Tensor = 0.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        t0 = torch.as_tensor(theta0, dtype=dtype).expand(problems, dim).clone()
        m, w = imbalanced_init(t0, imbalance)
        self.m = nn.Parameter(m)
        self.w = nn.Parameter(w)

    @property
    def theta(self) -> Tensor:
        return self.m * self.w


# ---------------------------------------------------------------------------------------------
# training and metrics


@dataclass
class Trajectory:
    """Recorded metrics: `steps` (T,) and, per name in METRICS, an array (T, S); `theta` the final (S, d)."""

    steps: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    theta: Tensor | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    @property
    def final(self) -> dict[str, np.ndarray]:
        """Each metric at the last recorded step, (S,) each."""
        return {k: v[-1] for k, v in self.metrics.items()}


@torch.no_grad()
def _measure(theta: Tensor, problem: RegressionProblem) -> dict[str, Tensor]:
    truth, k = problem.theta, problem.k
    l1, l2 = theta.abs().sum(-1), theta.norm(dim=-1)
    on_support = truth != 0
    top = theta.abs().topk(k, dim=-1).indices
    found = on_support.gather(-1, top).sum(-1)
    signs = ((torch.sign(theta) == torch.sign(truth)) & on_support).sum(-1)
    return {"loss": squared_loss(theta, problem), "recovery": (theta - truth).norm(dim=-1), "l1": l1,
            "l1_over_l2": l1 / l2.clamp_min(1e-300), "support": found / k,
            "signs": signs / on_support.sum(-1),
            "dist_min_l2": (theta - problem.min_l2).norm(dim=-1),
            "dist_min_l1": (theta - problem.min_l1).norm(dim=-1)}


def run_regression(model: nn.Module, problem: RegressionProblem, optimizer: torch.optim.Optimizer,
                   steps: int, *, record_every: int = 1,
                   penalty: Callable[[nn.Module, int], Tensor] | None = None,
                   callback: Callable[[nn.Module, int, Tensor], None] | None = None) -> Trajectory:
    """Full-batch training of `model` (with a `.theta` (S, d)) on the S problems for `steps` steps.

    Each step minimises Σ_s loss_s (+ `penalty(model, step)`, e.g. PILoT's α_k(‖m‖² + ‖w‖²)), then calls
    `callback(model, step, losses (S,))` (e.g. to update a schedule). Metrics are recorded before the
    first step and every `record_every` steps after it (and after the last).
    """
    if not (isinstance(steps, int) and steps >= 1 and isinstance(record_every, int) and record_every >= 1):
        raise ValueError(f"steps={steps!r}, record_every={record_every!r}: pass integers >= 1")
    theta = model.theta
    if theta.shape != problem.theta.shape:
        raise ValueError(f"model.theta has shape {tuple(theta.shape)} but the problems need "
                         f"{tuple(problem.theta.shape)}: build the model with (S, d) = that")
    records: list[dict[str, Tensor]] = [_measure(theta.detach(), problem)]
    recorded = [0]
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        losses = squared_loss(model.theta, problem)
        total = losses.sum()
        if penalty is not None:
            total = total + penalty(model, step)
        if not torch.isfinite(total.detach()):
            raise FloatingPointError(f"loss is {float(total.detach())} at step {step}: "
                                     "lower the learning rate")
        total.backward()
        optimizer.step()
        if callback is not None:
            callback(model, step, losses.detach())
        if step % record_every == 0 or step == steps:
            records.append(_measure(model.theta.detach(), problem))
            recorded.append(step)
    metrics = {name: torch.stack([r[name] for r in records]).cpu().numpy() for name in METRICS}
    return Trajectory(np.asarray(recorded), metrics, model.theta.detach().clone())


def steps_to(trajectory: Trajectory, metric: str, threshold: float, below: bool = True) -> np.ndarray:
    """Per problem, the first recorded step at which `metric` is <= threshold (>= if not `below`);
    inf where it never gets there. Returns float array (S,)."""
    if metric not in trajectory.metrics:
        raise ValueError(f"metric={metric!r}: pass one of {', '.join(trajectory.metrics)}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold={threshold!r}: pass a finite number")
    values = trajectory[metric]
    hit = values <= threshold if below else values >= threshold
    first = np.where(hit.any(0), hit.argmax(0), -1)
    return np.where(first >= 0, trajectory.steps[np.maximum(first, 0)].astype(float), np.inf)


# ---------------------------------------------------------------------------------------------
# several optimizer arms trained as one model


class Arms(nn.Module):
    """Named stacked ensembles trained side by side as one model, so one `relml.train.fit` call (one
    batch order, one loop) trains every arm: forward concatenates each arm's (R_a, batch, classes) output
    along the member axis. Give each arm its own param groups (e.g. its own HAM α) with `arm_groups`.
    """

    def __init__(self, arms: dict[str, nn.Module]) -> None:
        super().__init__()
        if not arms:
            raise ValueError("pass at least one arm: {name: stacked model}")
        self.names = list(arms)
        self.members = nn.ModuleList(arms.values())  # a list, so that names may contain any character

    @property
    def arms(self) -> dict[str, nn.Module]:
        return dict(zip(self.names, self.members, strict=True))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([arm(x) for arm in self.members], dim=0)

    @torch.no_grad()
    def accuracy(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """Each arm's per-member accuracy (R_a,) on (x, y (n,))."""
        was = self.training
        self.eval()
        out = {name: (arm(x).argmax(-1) == y).double().mean(-1) for name, arm in self.arms.items()}
        self.train(was)
        return out


@dataclass
class ArmsRun:
    """The result of `train_arms`: the trained `Arms`, `relml.train.fit`'s history, the callbacks of
    each arm, and each arm's per-member test accuracy (R_a,) if test data were given."""

    model: Arms
    history: History
    callbacks: dict[str, list[object]]
    accuracy: dict[str, Tensor]


def train_arms(arms: dict[str, nn.Module], make_optimizer: Callable[[list[dict]], torch.optim.Optimizer],
               train: tuple[Tensor, Tensor], *, epochs: int, batch_size: int = 128,
               group_options: dict[str, dict] | None = None,
               callbacks: Callable[[str, nn.Module], list[object]] | None = None,
               loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, cosine: bool = True, seed: int = 0,
               test: tuple[Tensor, Tensor] | None = None) -> ArmsRun:
    """Train several stacked-ensemble arms at once with one optimizer whose param groups differ per arm.

    Each arm gets `hyperbolic_param_groups(arm, **group_options[name])` (its weights in a group flagged
    ``hyperbolic``, everything else in another), e.g. ``{"sgd": {"ham_alpha": 0.0, "ham_beta": 0.0},
    "ham": {"ham_alpha": 20.0}}`` for `relml.optim.HAM`, or ``{"alpha": 0.0, "beta": 0.0}`` for a HORST
    arm that is plain AdamW. `make_optimizer(groups)` builds the optimizer; with `cosine` the learning
    rate follows a cosine schedule to 0 over all steps. `callbacks(name, arm)` gives an arm's fit
    callbacks (masks, pruning, sign-flip counters). Loss: the arms' summed `loss_fn` (default: the first
    arm's static `loss`, e.g. `EnsembleMLP.loss`).
    """
    from relml.optim.hyperbolic import hyperbolic_param_groups
    from relml.train import fit

    model = Arms(arms)
    options = group_options or {}
    unknown = set(options) - set(arms)
    if unknown:
        raise ValueError(f"group_options for unknown arm(s) {sorted(unknown)}: the arms are {list(arms)}")
    groups = [g for name, arm in arms.items() for g in hyperbolic_param_groups(arm, **options.get(name, {}))]
    optimizer = make_optimizer(groups)
    per_arm = {name: list(callbacks(name, arm)) if callbacks else [] for name, arm in arms.items()}
    loss_fn = loss_fn or type(next(iter(arms.values()))).loss
    steps = epochs * math.ceil(len(train[0]) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    history = fit(model, train, optimizer, epochs=epochs, loss_fn=loss_fn, batch_size=batch_size,
                  callbacks=[cb for cbs in per_arm.values() for cb in cbs], scheduler=scheduler,
                  scheduler_per="step", seed=seed, progress=False)
    accuracy = model.accuracy(*test) if test is not None else {}
    return ArmsRun(model, history, per_arm, accuracy)


class WeightSnapshot:
    """A fit callback that copies `weights` after the optimizer step number `step` (before any later
    callback in the list acts, e.g. a pruning at that step): `weights_` is the list of copies."""

    def __init__(self, weights: Sequence[Tensor], step: int) -> None:
        if not (isinstance(step, int) and step >= 1):
            raise ValueError(f"step={step!r}: pass an optimizer step >= 1")
        self.weights, self.step = list(weights), step
        self.weights_: list[Tensor] | None = None

    def on_step_end(self, model: nn.Module, step: int) -> None:
        if step == self.step:
            self.weights_ = [w.detach().clone() for w in self.weights]


def sparse_mlp_arms(data: Any, setting: str, alphas: dict[str, float], make_optimizer: Callable[[list[dict]],
                    torch.optim.Optimizer], *, hidden: int, members: int, beta: float, epochs: int,
                    batch_size: int, mask_density: float, gmp_sparsity: float, seed: int,
                    device: torch.device | str = "cpu") -> ArmsRun:
    """Sparse digits MLPs (64-h-h-10), one stacked ensemble of `members` seeds per arm, all arms in one fit.

    `alphas` maps an arm's name to its HAM α (0: the base optimizer alone). `setting` is "random" (a fixed
    ER mask of `mask_density`, He init scaled by 1/sqrt(density)) or "gmp" (gradual magnitude pruning to
    `gmp_sparsity` from epoch 1 to 60% of training, twice per epoch). Sign flips are counted in epoch 1.
    """
    from relml.models import EnsembleMLP
    from relml.sparse.gradual import GradualMagnitudePruning, SignFlipCounter
    from relml.sparse.masks import MaskCallback, random_masks

    if setting not in ("random", "gmp"):
        raise ValueError(f"setting={setting!r}: pass 'random' or 'gmp'")
    sizes, steps_per_epoch = [64, hidden, hidden, 10], math.ceil(len(data.x_train) / batch_size)
    arms = {n: EnsembleMLP(sizes, members, generator=torch.Generator().manual_seed(seed)).to(device)
            for n in alphas}

    def callbacks(name: str, arm: nn.Module) -> list[object]:
        if setting == "random":
            dens = torch.full((members, 3), mask_density)
            arm.reset_parameters(torch.Generator().manual_seed(seed), densities=dens)
            masks = random_masks(arm, list(dens.T.numpy()), torch.Generator().manual_seed(seed + 1))
            prune: object = MaskCallback(arm, masks)
        else:
            prune = GradualMagnitudePruning(arm, gmp_sparsity, start=steps_per_epoch,
                                            end=int(0.6 * epochs * steps_per_epoch),
                                            every=max(1, steps_per_epoch // 2), stacked=True)
        return [prune, SignFlipCounter(arm, stacked=True, until=steps_per_epoch)]

    options = {n: {"ham_alpha": a, "ham_beta": beta if a else 0.0} for n, a in alphas.items()}
    return train_arms(arms, make_optimizer, data.train, epochs=epochs, batch_size=batch_size,
                      group_options=options, callbacks=callbacks, seed=seed, test=data.test)
