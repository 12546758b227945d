"""Fitting Friedkin–Johnsen parameters to observed opinion trajectories by constrained least squares.

Bause, Niederle, Pawelczyk & Burkholz (arXiv 2605.25929) fit FJ dynamics to the belief trajectories of
deliberating LLM agents. Our formulation (the paper's exact estimator is not public): per agent i,

.. math::

    x_i(t+1) \\approx s_i\\, x_i(0) + \\sum_j a_{ij}\\, x_j(t), \\qquad
    s_i \\ge 0,\\; a_{ij} \\ge 0,\\; s_i + \\sum_j a_{ij} = 1,

least squares over rounds t = 0..T−1 and the k options. The constraint set is the probability simplex
over θ_i = (s_i, a_i1, .., a_in), so every fit is a small simplex-constrained quadratic program; all
agents (and all questions of a batch) are solved at once by a batched primal active-set method
(exact: a handful of small KKT solves per problem). The FJ trust matrix
is W_ij = a_ij / (1 − s_i) (rows with s_i = 1 are never influenced; they get W_ii = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relml.dynamics.opinion import influence_matrix

SUPPORT_TOL = 1e-9


def simplex_least_squares(G: np.ndarray, b: np.ndarray, *, max_iter: int | None = None,
                          tol: float = 1e-12) -> tuple[np.ndarray, int]:
    """argmin over the simplex of ½ θᵀ G θ − bᵀ θ, batched: G (..., d, d) PSD, b (..., d) → θ (..., d).

    A primal active-set method run on every problem of the batch at once: from the simplex centre,
    solve the equality-constrained problem on the free coordinates (KKT system, pseudo-inverse when
    G is singular); step toward it until a coordinate hits zero (which leaves the free set), or, at
    the equality optimum, free the coordinate whose bound multiplier is most negative; stop when all
    multipliers are >= −tol. Exact up to round-off in finitely many steps (default cap 10 d).
    Returns θ and the number of steps taken by the slowest problem.
    """
    G, b = np.asarray(G, dtype=float), np.asarray(b, dtype=float)
    if G.ndim < 2 or G.shape[-2:] != (b.shape[-1], b.shape[-1]) or G.shape[:-2] != b.shape[:-1]:
        raise ValueError(f"G must be (..., d, d) and b (..., d), got {G.shape} and {b.shape}")
    if not (np.all(np.isfinite(G)) and np.all(np.isfinite(b))):
        raise ValueError("G and b must be finite")
    batch, d = b.shape[:-1], b.shape[-1]
    Gf, bf = G.reshape(-1, d, d), b.reshape(-1, d)
    theta = np.full(bf.shape, 1.0 / d)
    free = np.ones(bf.shape, dtype=bool)
    active = np.ones(len(bf), dtype=bool)
    scale = np.maximum(np.abs(Gf).max((-2, -1)), np.abs(bf).max(-1))
    max_iter = 10 * d if max_iter is None else max_iter
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        idx = np.flatnonzero(active)
        if idx.size == 0:
            it -= 1
            break
        Ga, ba, fa, ta = Gf[idx], bf[idx], free[idx], theta[idx]
        z = _equality_solution(Ga, ba, fa)
        blocked = fa & (z < 0)
        # step toward z until the first free coordinate reaches zero
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(blocked, ta / (ta - z), np.inf)
        alpha = np.minimum(ratio.min(-1), 1.0)
        step = blocked.any(-1)
        ta = np.where(step[:, None], ta + alpha[:, None] * (z - ta), z)
        hit = step[:, None] & fa & (ratio <= alpha[:, None] + 1e-15)
        ta = np.where(hit, 0.0, np.maximum(ta, 0.0))
        fa = fa & ~hit
        # at an equality optimum: check the bound multipliers μ_j = g_j + ν of the fixed coordinates
        g = np.einsum("bij,bj->bi", Ga, ta) - ba
        nu = -np.where(fa, g, 0.0).sum(-1) / np.maximum(fa.sum(-1), 1)
        mu = np.where(fa, np.inf, g + nu[:, None])
        worst = mu.argmin(-1)
        optimal = ~step & (mu.min(-1) >= -tol * scale[idx])
        release = ~step & ~optimal
        fa[np.flatnonzero(release), worst[release]] = True
        theta[idx], free[idx] = ta, fa
        active[idx[optimal]] = False
    theta = np.clip(theta, 0.0, None)
    return (theta / theta.sum(-1, keepdims=True)).reshape(batch + (d,)), it


def _equality_solution(G, b, free):
    """argmin ½θᵀGθ − bᵀθ s.t. Σθ = 1, θ_j = 0 off `free`: the KKT system, batched (B, d)."""
    d = b.shape[-1]
    K = np.zeros((len(b), d + 1, d + 1))
    K[:, :d, :d] = np.where(free[:, :, None] & free[:, None, :], G, 0.0) + np.eye(d) * ~free[:, :, None]
    K[:, :d, d] = K[:, d, :d] = free
    rhs = np.concatenate([np.where(free, b, 0.0), np.ones((len(b), 1))], axis=-1)
    return np.einsum("bij,bj->bi", np.linalg.pinv(K), rhs)[:, :d]


@dataclass(frozen=True)
class FJFit:
    """Fitted FJ parameters: s (..., n) stubbornness, A (..., n, n) with A_ij = (1 − s_i) W_ij, the
    root-mean-square residual per agent rmse (..., n), and the solver's iteration count."""

    s: np.ndarray
    A: np.ndarray
    rmse: np.ndarray
    iterations: int

    @property
    def W(self) -> np.ndarray:
        """Row-stochastic trust W (..., n, n): rows of A renormalised (e_i for a fully stubborn agent)."""
        rows = self.A.sum(-1, keepdims=True)
        n = self.A.shape[-1]
        return np.where(rows > SUPPORT_TOL, self.A / np.where(rows > SUPPORT_TOL, rows, 1.0), np.eye(n))

    def influence(self) -> np.ndarray:
        """The fitted influence matrix P = (I − A)^{-1} S (..., n, n) (see `opinion.influence_matrix`)."""
        return influence_matrix(self.W, self.s)


def _trajectories(traj: np.ndarray) -> np.ndarray:
    traj = np.asarray(traj, dtype=float)
    if traj.ndim == 2:  # (T+1, n): scalar opinions
        traj = traj[..., None]
    if traj.ndim < 3 or traj.shape[-3] < 2:
        raise ValueError("trajectories must be (..., T+1, n, k) (or (T+1, n)) with at least two time "
                         f"points, got {traj.shape}; from fj_simulate use np.moveaxis(traj, 0, -3)")
    if not np.all(np.isfinite(traj)):
        raise ValueError("trajectories have NaN or infinite entries")
    return traj


def fj_normal_equations(traj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gram matrices G (..., n, n+1, n+1), right-hand sides b (..., n, n+1) and Σ y² (..., n) of the
    per-agent regressions x_i(t+1) ~ [x_i(0), x_1(t), .., x_n(t)] over rounds and options."""
    traj = _trajectories(traj)
    x0, past, nxt = traj[..., 0, :, :], traj[..., :-1, :, :], traj[..., 1:, :, :]
    T, n = past.shape[-3], traj.shape[-2]
    C = np.einsum("...tjk,...tlk->...jl", past, past)          # Σ_t x_j(t)·x_l(t)
    X = past.sum(-3)                                           # Σ_t x_j(t), (..., n, k)
    G = np.zeros(traj.shape[:-3] + (n, n + 1, n + 1))
    G[..., 0, 0] = T * (x0 ** 2).sum(-1)
    cross = np.einsum("...ik,...jk->...ij", x0, X)            # x_i(0)·Σ_t x_j(t)
    G[..., 0, 1:] = cross
    G[..., 1:, 0] = cross
    G[..., 1:, 1:] = C[..., None, :, :]
    b = np.zeros(traj.shape[:-3] + (n, n + 1))
    b[..., 0] = np.einsum("...ik,...tik->...i", x0, nxt)
    b[..., 1:] = np.einsum("...tik,...tjk->...ij", nxt, past)
    yy = (nxt ** 2).sum((-3, -1))
    return G, b, yy


def fit_fj(traj: np.ndarray, *, max_iter: int | None = None, tol: float = 1e-12) -> FJFit:
    """Fit (s, A) to trajectories (..., T+1, n, k), one constrained least-squares problem per agent
    (and per leading index, e.g. per question), all solved in one batch.

    Identifiability needs the opinions to move: with x(t) = x(0) for all t the anchor and the
    self-weight cannot be told apart.
    """
    traj = _trajectories(traj)
    G, b, _ = fj_normal_equations(traj)
    theta, it = simplex_least_squares(G, b, max_iter=max_iter, tol=tol)
    s, A = theta[..., 0], theta[..., 1:]
    pred = s[..., None, :, None] * traj[..., :1, :, :] + A[..., None, :, :] @ traj[..., :-1, :, :]
    rmse = np.sqrt(((traj[..., 1:, :, :] - pred) ** 2).mean(axis=(-3, -1)))
    return FJFit(s, A, rmse, it)


def simulate_trajectories(W: np.ndarray, s: np.ndarray, x0: np.ndarray, rounds: int, *, noise: float = 0.0,
                          seed: int | np.random.Generator = 0) -> np.ndarray:
    """Noisy FJ trajectories (..., T+1, n, k), T = rounds: x(t+1) = S x(0) + (I − S) W x(t) + ε(t).

    ε is Gaussian with standard deviation `noise`, centred over the k options so that belief vectors
    keep summing to 1 (entries may leave [0, 1] by O(noise)). W (..., n, n), s (..., n), x0 (..., n, k).
    """
    W, s, x0 = (np.asarray(a, dtype=float) for a in (W, s, x0))
    if not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if x0.ndim < 2 or W.shape[-2:] != (x0.shape[-2],) * 2 or s.shape[-1] != x0.shape[-2]:
        raise ValueError(f"need W (..., n, n), s (..., n), x0 (..., n, k); "
                         f"got {W.shape}, {s.shape}, {x0.shape}")
    rng = np.random.default_rng(seed)
    anchor, keep = s[..., None] * x0, (1.0 - s)[..., None]
    x, out = x0, [x0]
    for _ in range(rounds):
        eps = rng.normal(0.0, noise, size=np.broadcast_shapes(anchor.shape, x.shape)) if noise else 0.0
        if noise:
            eps = eps - eps.mean(-1, keepdims=True)
        x = anchor + keep * (W @ x) + eps
        out.append(x)
    return np.stack(out, axis=-3)


def parameter_errors(fit: FJFit, W: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """Mean absolute error of the fitted stubbornness and of the fitted A = (1 − S) W."""
    W, s = np.asarray(W, dtype=float), np.asarray(s, dtype=float)
    A = (1.0 - s)[..., None] * W
    return {"s": float(np.abs(fit.s - s).mean()), "A": float(np.abs(fit.A - A).mean())}


def topic_variance_explained(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """η² per agent: between-group over total variance of values (Q, n) grouped by groups (Q,).

    The share of the variation of a fitted parameter that the question's topic explains: near 0
    for input-independent parameters, large for topic-dependent ones.
    """
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if values.ndim != 2 or groups.shape != values.shape[:1]:
        raise ValueError(f"values must be (Q, n) and groups (Q,), got {values.shape} and {groups.shape}")
    _, g = np.unique(groups, return_inverse=True)
    onehot = np.eye(g.max() + 1)[g]                                      # (Q, G)
    means = (onehot.T @ values) / onehot.sum(0)[:, None]                # (G, n)
    between = ((means[g] - values.mean(0)) ** 2).sum(0)
    total = ((values - values.mean(0)) ** 2).sum(0)
    return between / np.where(total > 0, total, 1.0)
