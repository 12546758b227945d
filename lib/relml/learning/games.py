"""Smooth two-player games, their first-order methods, and base-step accounting (MoLA, arXiv 2601.18409).

A two-player zero-sum game min_x max_y f(x, y) is learned through its vector field

    F(z) = (∇_x f(x, y), −∇_y f(x, y)),   z = (x, y),

whose Jacobian J = ∂F/∂z carries the rotation: for the bilinear game f = xᵀAy its eigenvalues are ±iσ_j(A)
(pure rotation), for the strongly-convex–strongly-concave quadratic f = μ_x/2‖x‖² − μ_y/2‖y‖² + xᵀAy they
are μ ± iσ_j(A) when μ_x = μ_y = μ (rotation plus potential).

Every game here is batched: a leading batch shape on A plays independent games at once (one per seed), so
z has shape (..., n) with n = d_x + d_y. Gradient descent-ascent (GDA) is gradient descent on F; the
methods and `play` count *base gradient evaluations* (one F(z) each), the paper's x-axis: an extragradient
step costs two, a LookAhead cycle of k steps costs k, the averaging costs none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

Method = Literal["gda", "eg", "ogda"]
METHODS: tuple[str, ...] = ("gda", "eg", "ogda")


def _check_finite(name: str, t: Tensor) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} has NaN or infinite entries; pass finite values")


class QuadraticGame:
    r"""f(x, y) = μ_x/2 ‖x‖² − μ_y/2 ‖y‖² + xᵀ A y: bilinear for μ = 0, SC-SC for μ_x, μ_y > 0.

    Vector field and Jacobian (the paper's bilinear and SC-SC experiments; official `problems/`):

    .. math::
        F(z) = \begin{pmatrix} \mu_x x + A y \\ \mu_y y - A^\top x \end{pmatrix},\qquad
        J = \begin{pmatrix} \mu_x I & A \\ -A^\top & \mu_y I \end{pmatrix}.

    Parameters
    ----------
    a : (..., d_x, d_y) coupling matrix; leading dimensions index independent games.
    mu_x, mu_y : curvature of the min and max player (>= 0).

    The unique equilibrium of a game with μ_x, μ_y > 0, or with A square and invertible, is z* = 0.
    """

    def __init__(self, a: Tensor, mu_x: float = 0.0, mu_y: float = 0.0) -> None:
        if not isinstance(a, Tensor) or a.dim() < 2:
            raise ValueError("a must be a tensor of shape (..., d_x, d_y)")
        _check_finite("a", a)
        if not (mu_x >= 0 and mu_y >= 0):
            raise ValueError(f"mu_x and mu_y must be >= 0, got {mu_x}, {mu_y}")
        self.a, self.mu_x, self.mu_y = a, float(mu_x), float(mu_y)
        self.d_x, self.d_y = a.shape[-2], a.shape[-1]

    @property
    def dim(self) -> int:
        """n = d_x + d_y, the size of z."""
        return self.d_x + self.d_y

    @property
    def batch_shape(self) -> torch.Size:
        return self.a.shape[:-2]

    def __len__(self) -> int:
        return int(self.batch_shape.numel())

    def __getitem__(self, index: int | slice) -> QuadraticGame:
        """The game(s) at a batch index."""
        if not self.batch_shape:
            raise IndexError("this game has no batch dimension")
        return type(self)._like(self, self.a[index])

    @staticmethod
    def _like(game: QuadraticGame, a: Tensor) -> QuadraticGame:
        return QuadraticGame(a, game.mu_x, game.mu_y)

    def to(self, device: torch.device | str) -> QuadraticGame:
        """The same game with A on `device`."""
        return type(self)._like(self, self.a.to(device))

    def _check_z(self, z: Tensor) -> None:
        if z.shape[-1] != self.dim:
            raise ValueError(f"z must have last dimension d_x + d_y = {self.dim}, got shape {tuple(z.shape)}")

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (..., n) → x (..., d_x), y (..., d_y)."""
        self._check_z(z)
        return z[..., : self.d_x], z[..., self.d_x:]

    def loss(self, z: Tensor) -> Tensor:
        """f(x, y), shape (...,): the min player's loss, the max player's gain."""
        x, y = self.split(z)
        ay = (y.unsqueeze(-2) @ self.a.mT).squeeze(-2)
        return 0.5 * self.mu_x * (x * x).sum(-1) - 0.5 * self.mu_y * (y * y).sum(-1) + (x * ay).sum(-1)

    def vector_field(self, z: Tensor) -> Tensor:
        """F(z) = (∇_x f, −∇_y f), shape (..., n); one base gradient evaluation."""
        x, y = self.split(z)
        # row-vector products: a batched (1, d) @ (d, d) is much faster than (d, d) @ (d, 1) on the CPU
        fx = (y.unsqueeze(-2) @ self.a.mT).squeeze(-2)
        fy = -(x.unsqueeze(-2) @ self.a).squeeze(-2)
        if self.mu_x:
            fx = fx + self.mu_x * x
        if self.mu_y:
            fy = fy + self.mu_y * y
        return torch.cat([fx, fy], dim=-1)

    def jvp(self, v: Tensor, z: Tensor | None = None) -> Tensor:
        """J v, shape (..., n); J is constant, so z is ignored (kept for the general signature)."""
        return self.vector_field(v)

    def jacobian(self, z: Tensor | None = None) -> Tensor:
        """J, shape (..., n, n)."""
        batch, dx, dy = self.batch_shape, self.d_x, self.d_y
        j = self.a.new_zeros(*batch, dx + dy, dx + dy)
        j[..., :dx, dx:] = self.a
        j[..., dx:, :dx] = -self.a.transpose(-1, -2)
        idx = torch.arange(dx + dy, device=self.a.device)
        j[..., idx[:dx], idx[:dx]] = self.mu_x
        j[..., idx[dx:], idx[dx:]] = self.mu_y
        return j

    def eigenvalues(self) -> Tensor:
        """The Jacobian's eigenvalues, complex (..., n) (exact; for checks and predictions)."""
        return torch.linalg.eigvals(self.jacobian())

    def equilibrium(self) -> Tensor:
        """z* = 0, shape (..., n)."""
        return self.a.new_zeros(*self.batch_shape, self.dim)

    def distance(self, z: Tensor) -> Tensor:
        """‖z − z*‖₂, shape (...,)."""
        self._check_z(z)
        return torch.linalg.vector_norm(z, dim=-1)


class BilinearGame(QuadraticGame):
    """f(x, y) = xᵀ A y: the purely rotational game; J has eigenvalues ±iσ_j(A), GDA diverges."""

    def __init__(self, a: Tensor) -> None:
        super().__init__(a, 0.0, 0.0)

    @staticmethod
    def _like(game: QuadraticGame, a: Tensor) -> QuadraticGame:
        return BilinearGame(a)


def _per_seed(seed: int | Sequence[int], draw: Callable[[torch.Generator], Tensor]) -> Tensor:
    """draw(generator) for one seed, or stacked over a sequence of seeds (one independent game each)."""
    if isinstance(seed, int):
        return draw(torch.Generator().manual_seed(seed))
    seeds = list(seed)
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seed must be a non-negative int or a non-empty list of them, got {seed!r}")
    return torch.stack([draw(torch.Generator().manual_seed(s)) for s in seeds])


def random_bilinear_game(d: int, beta: float = 0.6, *, seed: int | Sequence[int] = 0,
                         dtype: torch.dtype = torch.float64) -> BilinearGame:
    """The paper's bilinear benchmark: A = β N(0, 1)^{d×d} / √d, so σ_max(A) ≈ 2β.

    A has shape (d, d) for one seed, or (len(seed), d, d) for a list of seeds (one game per seed, the
    same game whatever the other seeds in the list).
    """
    if d < 1 or not beta > 0:
        raise ValueError(f"need d >= 1 and beta > 0, got d={d}, beta={beta}")
    scale = beta / d ** 0.5
    return BilinearGame(_per_seed(seed, lambda g: scale * torch.randn(d, d, generator=g, dtype=dtype)))


def _haar_orthogonal(d: int, g: torch.Generator, dtype: torch.dtype) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=dtype))
    # fix the signs so that Q is Haar-distributed rather than biased by the QR convention
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def random_scsc_game(d: int, mu_x: float = 0.18, mu_y: float = 0.18, sigma_min: float = 0.25,
                     sigma_max: float = 0.45, *, seed: int | Sequence[int] = 0,
                     dtype: torch.dtype = torch.float64) -> QuadraticGame:
    """The paper's mixed (SC-SC) benchmark: A = U diag(linspace(σ_min, σ_max, d)) Vᵀ, U, V Haar-orthogonal.

    With μ_x = μ_y = μ the Jacobian's eigenvalues are μ ± iσ_j: rotation (σ) and potential (μ) mixed;
    μ = 0 gives a bilinear game with prescribed singular values. Batched over a list of seeds as
    `random_bilinear_game`.
    """
    if d < 1 or not (0 <= sigma_min <= sigma_max):
        raise ValueError(f"need d >= 1 and 0 <= sigma_min <= sigma_max, got d={d}, "
                         f"sigma=[{sigma_min}, {sigma_max}]")
    s = torch.linspace(sigma_min, sigma_max, d, dtype=dtype)

    def draw(g: torch.Generator) -> Tensor:
        u, v = _haar_orthogonal(d, g, dtype), _haar_orthogonal(d, g, dtype)
        return (u * s) @ v.T

    return QuadraticGame(_per_seed(seed, draw), mu_x, mu_y)


def random_start(game: QuadraticGame, scale: float = 1.0, *, seed: int | Sequence[int] = 0) -> Tensor:
    """z_0 ~ N(0, scale² I) in the game's dtype and device: (n,) for one seed, (len(seed), n) for a list."""
    z = _per_seed(seed, lambda g: scale * torch.randn(game.dim, generator=g, dtype=game.a.dtype))
    if z.shape[:-1] != game.batch_shape:
        raise ValueError(f"pass one start seed per game: the game has batch shape {tuple(game.batch_shape)}")
    return z.to(game.a.device)


# ---------------------------------------------------------------------------------------------
# first-order methods: one step each, z (..., n) → z (..., n)


def gda_step(game: QuadraticGame, z: Tensor, lr: float) -> Tensor:
    """Simultaneous gradient descent-ascent, z ← z − γ F(z) (1 base gradient evaluation)."""
    return z - lr * game.vector_field(z)


def extragradient_step(game: QuadraticGame, z: Tensor, lr: float) -> Tensor:
    """Extragradient (Korpelevich 1976): z ← z − γ F(z − γ F(z)) (2 base gradient evaluations)."""
    return z - lr * game.vector_field(z - lr * game.vector_field(z))


def ogda_step(game: QuadraticGame, z: Tensor, lr: float, previous: Tensor) -> tuple[Tensor, Tensor]:
    """Optimistic GDA (Popov 1980): z ← z − γ (2F(z_t) − F(z_{t−1})) (1 evaluation); returns (z, F(z_t))."""
    field = game.vector_field(z)
    return z - lr * (2 * field - previous), field


# ---------------------------------------------------------------------------------------------
# base-step accounting


def _check_run(game: QuadraticGame, z0: Tensor, budget: int, lr: float) -> None:
    game._check_z(z0)
    _check_finite("z0", z0)
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a positive number of base gradient evaluations, got {budget!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")


def run_method(game: QuadraticGame, z0: Tensor, method: Method, budget: int, lr: float) -> Tensor:
    """Distance to equilibrium after each base gradient evaluation, shape (budget + 1, *batch).

    Row t is the distance of the latest iterate that t evaluations of F can pay for (row 0: z0), so
    every method lies on the same x-axis: EG's iterate after s steps fills rows 2s and 2s + 1.
    OGDA starts with F(z_{−1}) = 0, as in the official code.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    _check_run(game, z0, budget, lr)
    out = z0.new_empty(budget + 1, *z0.shape[:-1])
    out[0] = game.distance(z0)
    z, previous = z0, torch.zeros_like(z0)
    t = 0
    while t < budget:
        if method == "gda":
            z = gda_step(game, z, lr)
        elif method == "ogda":
            z, previous = ogda_step(game, z, lr, previous)
        else:
            z = extragradient_step(game, z, lr)
        cost = 2 if method == "eg" else 1
        # until a step is fully paid for, the latest iterate is the previous one (EG's extrapolation
        # point is not an iterate); an EG step cut off by the budget is never paid for
        out[t + 1: min(t + cost, budget + 1)] = out[t]
        if t + cost <= budget:
            out[t + cost] = game.distance(z)
        t += cost
    return out


def _attach(game: QuadraticGame, z0: Tensor,
            make_optimizer: Callable[[list[dict]], torch.optim.Optimizer]
            ) -> tuple[Tensor, Tensor, torch.optim.Optimizer]:
    """z (*batch, n) and its grad buffer, with an optimizer holding one param group per game."""
    _check_run(game, z0, 1, 1.0)
    z = z0.reshape(-1, game.dim).clone()
    grad = torch.zeros_like(z)
    params = list(z.unbind(0))  # views of z: the optimizer's in-place updates write into z
    for p, g in zip(params, grad.unbind(0), strict=True):
        p.grad = g  # a view of `grad`, refreshed in place every step
    optimizer = make_optimizer([{"params": [p], "game": i} for i, p in enumerate(params)])
    return z.view(z0.shape), grad.view(z0.shape), optimizer


def play(game: QuadraticGame, z0: Tensor, make_optimizer: Callable[[list[dict]], torch.optim.Optimizer],
         budget: int) -> tuple[Tensor, torch.optim.Optimizer]:
    """Drive a torch optimizer on the game: each `step()` gets grad = F(z), one base evaluation.

    `make_optimizer(param_groups)` receives one param group per game of the batch (each with key
    "game": its batch index), so a wrapper such as `ModalLookAhead` can tune (k, α) per game;
    `torch.optim.SGD(groups, lr=γ)` is GDA. Returns the distances, shape (budget + 1, *batch), and the
    optimizer (for its chosen hyperparameters).
    """
    _check_run(game, z0, budget, 1.0)
    z, grad, optimizer = _attach(game, z0, make_optimizer)
    out = z0.new_empty(budget + 1, *z0.shape[:-1])
    out[0] = game.distance(z0)
    for t in range(budget):
        grad.copy_(game.vector_field(z))
        optimizer.step()
        out[t + 1] = game.distance(z)
    return out, optimizer


def steps_to_reach(distances: Tensor, fraction: float) -> Tensor:
    """First base-step count at which distance ≤ fraction · distance[0], per game; budget + 1 if never.

    distances: (budget + 1, *batch) from `run_method` or `play` → (*batch,) int64.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    reached = distances <= fraction * distances[0]
    never = torch.full(distances.shape[1:], distances.shape[0], dtype=torch.long)
    return torch.where(reached.any(0), reached.to(torch.int8).argmax(0), never)


def compare(game: QuadraticGame, z0: Tensor, budget: int, lr: float,
            optimizers: dict[str, Callable[[list[dict]], torch.optim.Optimizer]] | None = None,
            methods: tuple[str, ...] = METHODS) -> tuple[dict[str, Tensor], dict[str, torch.optim.Optimizer]]:
    """Distances vs base gradient evaluations for the functional `methods` and for torch `optimizers`.

    Returns ({name: (budget + 1, *batch)}, {name: optimizer after the run}); see `run_method`, `play`.
    """
    curves = {m: run_method(game, z0, m, budget, lr) for m in methods}  # type: ignore[arg-type]
    finals = {}
    for name, make in (optimizers or {}).items():
        curves[name], finals[name] = play(game, z0, make, budget)
    return curves, finals


def per_cycle_contraction(distances: Tensor, k: int, *, tail: float = 0.5, floor: float = 1e-12) -> float:
    """Observed contraction per LookAhead cycle: the geometric mean of d_{(n+1)k} / d_{nk} over the last
    `tail` fraction of the cycles whose distance is still above `floor` · d_0 (float round-off below).

    distances: (budget + 1,) for one game, from a run whose cycles all have length k.
    """
    if distances.dim() != 1 or k < 1 or not 0 < tail <= 1:
        raise ValueError("pass one game's distances (budget + 1,), k >= 1 and tail in (0, 1]")
    at_cycles = distances[::k] / distances[0]
    kept = at_cycles[: int((at_cycles > floor).sum())]
    n = kept.numel() - 1
    if n < 2:
        raise ValueError(f"fewer than 2 cycles above the floor (k={k}); run longer or lower the floor")
    first = n - max(1, int(round(tail * n)))
    return float((kept[n] / kept[first]) ** (1.0 / (n - first)))


def seconds_per_step(game: QuadraticGame, z0: Tensor,
                     make_optimizers: dict[str, Callable[[list[dict]], torch.optim.Optimizer]],
                     steps: int = 50, repeats: int = 20) -> dict[str, float]:
    """Wall-clock seconds per base step (F(z) and `step()`) of each optimizer on the game.

    Each optimizer runs `repeats` chunks of `steps` steps, in turns, and keeps its fastest chunk: a chunk
    that no other process interrupted, so a busy machine biases the comparison little.
    """
    if steps < 1 or repeats < 1:
        raise ValueError(f"need steps >= 1 and repeats >= 1, got {steps}, {repeats}")
    runs = {name: _attach(game, z0, make) for name, make in make_optimizers.items()}
    best = {name: math.inf for name in runs}
    for _ in range(repeats):
        for name, (z, grad, optimizer) in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                grad.copy_(game.vector_field(z))
                optimizer.step()
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
    return best
