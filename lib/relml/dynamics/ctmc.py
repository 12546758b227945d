"""Continuous-time Markov chains of item accumulation learned from cross-sectional sets (Gotovos et al. 2021).

The model (a Mutual-Hazard-Network-like CTMC over sets). A process starts at the
empty set; from the current set `S` each item `j ∉ S` is added at rate

.. math::

    \\lambda_j(S) = \\exp\\big(\\theta_{jj} + \\sum_{i \\in S} \\theta_{ij}\\big),

(`θ_jj` the base rate of `j`, `θ_ij` the effect of `i` on `j`) and an observation event of rate
`exp(0) = 1` stops the process: we only see the final set, never the order. An ordering
`x = (x_1, ..., x_k)` of a set `S` with `S_k = {x_1, ..., x_{k-1}}` has the log-probability (Eq. 6)

.. math::

    \\log p(x) = \\sum_{k} \\Big[\\theta_{x_k x_k} + \\sum_{i \\in S_k} \\theta_{i x_k}
                 - \\log\\big(1 + \\sum_{j \\notin S_k} \\lambda_j(S_k)\\big)\\Big]
                 - \\log\\big(1 + \\sum_{j \\notin S} \\lambda_j(S)\\big),

the last term being the observation. A set's likelihood sums over its orderings, `p(S) = Σ_π p(π)`:
`set_loglik` computes it exactly by dynamic programming over the subsets of `S`, O(2^|S| |S| n). The DP
value of a subset does not depend on the set it belongs to, so the sets of a data set share one pass
over the union of their subset lattices (`SetData.lattice`). The paper's approximate method estimates
the gradient (Eq. 7)

.. math::

    \\nabla_\\theta \\log p(S) = \\mathbb{E}_{\\pi \\sim p(\\pi \\mid S)}[\\nabla_\\theta \\log p(\\pi)]

by independent Metropolis–Hastings over orderings (`mh_orderings`, 50 samples), with the exact DP for
sets below 8 items (the official code's threshold). The proposal (the paper's, per our notes) builds an
ordering one item at a time, picking `i` among the set's remaining items with probability
`∝ λ_i(placed items)`: the chain's own next step, restricted to the set. (The official code also has a
"promote" heuristic, `∝ exp(Σ_{j ∈ remaining∖i} θ_ij)`, and uniform shuffles; both are available.)
`fit_ctmc` runs AdaGrad (step 1) with an L1 proximal step on the off-diagonal (reg 0.01) after a
diagonal-only warm start (101 iterations), up to 3000 iterations, for many fits in one batch
(restarts, data sets, even different ground sets); `CTMC` wraps it as a scikit-learn-style estimator.

`sample` is a Gillespie sampler vectorized over samples; `ordering_distribution` gives the
distribution of the order in which chosen items appear (exact by DP over the chosen items and their
ancestors in θ's influence graph when that is small, Monte Carlo otherwise), and `ordering_kl`
compares two models on it, which is how the paper measures whether the time order was recovered.

Conventions: items are 0..n-1; `theta` is a float64 tensor `(n, n)` (or `(F, n, n)` for `F` models
fitted at once, with a `fit` index per set); sets and orderings are padded `(B, L)` long tensors with
a `sizes` vector.

References: A. Gotovos, R. Burkholz, J. Quackenbush, S. Jegelka, "Scaling up Continuous-Time Markov
Chains Helps Resolve Underspecification", NeurIPS 2021, arXiv:2107.02911; official code
3lectrologos/time.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from relml.runtime import best_time

DTYPE = torch.float64
EXACT_BELOW = 8  # official code: exact DP for sets of fewer than 8 items, MH from 8 on
MAX_EXACT_SET = 20  # the exact DP holds 2^|S| states (each n log-rates) per set: refuse beyond this
MAX_SCORED_SET = 16  # fit_ctmc reports the exact log-likelihood only up to this set size
CHUNK = 1 << 22  # elements per chunk of the (batch, length, n) tensors
SYNTH2 = ((0.0, 4.0), (0.0, -4.0))  # paper's 2-item dependency: item 0 promotes item 1 (0 → 1)
SYNTH5 = ((-1.0, 4.0, 0.0, 0.0, 0.0), (0.0, -1.0, -2.0, -2.0, 0.0), (0.0, -2.0, -1.0, -2.0, 0.0),
          (0.0, -2.0, -2.0, -0.5, 4.0), (0.0, 0.0, 0.0, 0.0, -4.0))


# ---------------------------------------------------------------------------------------------
# validation


def check_theta(theta: Tensor | np.ndarray | Sequence, *, batched: bool = False) -> Tensor:
    """θ as a float64 tensor, `(n, n)` (or `(F, n, n)` when `batched`); ValueError if not finite/square.

    A float64 tensor is returned as is (autograd flows through it).
    """
    if isinstance(theta, Tensor):
        t = theta.to(DTYPE)
    else:
        t = torch.as_tensor(np.asarray(theta, dtype=float), dtype=DTYPE)
    if t.dim() == 2 and batched:
        t = t.unsqueeze(0)
    want = 3 if batched else 2
    if t.dim() != want or t.shape[-1] != t.shape[-2] or t.shape[-1] == 0:
        shape = "(F, n, n)" if batched else "(n, n)"
        raise ValueError(f"theta must be a square matrix {shape} with n >= 1, got shape {tuple(t.shape)}")
    if not torch.isfinite(t.detach()).all():
        raise ValueError("theta has NaN or infinite entries; pass finite log-rates")
    return t


def _check_positive_int(name: str, value: int, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def as_sets(sets: Iterable[Iterable[int]] | np.ndarray | Tensor, n_items: int) -> list[tuple[int, ...]]:
    """Sets as sorted tuples of item indices, from item lists or a 0/1 matrix `(N, n_items)`.

    Raises ValueError for an item outside 0..n_items-1, a repeated item, or a matrix of the wrong width.
    """
    n_items = _check_positive_int("n_items", n_items)
    if isinstance(sets, (np.ndarray, Tensor)) and np.asarray(sets).ndim == 2:
        mat = np.asarray(sets)
        if mat.shape[1] != n_items:
            raise ValueError(f"a 0/1 set matrix needs {n_items} columns (one per item), got {mat.shape[1]}")
        if not np.isin(mat, (0, 1)).all():
            raise ValueError("a set matrix must hold only 0 and 1 (item absent / present)")
        return [tuple(int(j) for j in np.flatnonzero(row)) for row in mat]
    out = []
    for k, s in enumerate(sets):
        items = [int(j) for j in s]
        if any(j < 0 or j >= n_items for j in items):
            raise ValueError(f"set {k} = {items} has items outside the ground set 0..{n_items - 1}")
        if len(set(items)) != len(items):
            raise ValueError(f"set {k} = {items} repeats an item; a set lists each item once")
        out.append(tuple(sorted(items)))
    return out


# ---------------------------------------------------------------------------------------------
# prepared data: deduplicated sets with weights, for one or several fits


@dataclass(frozen=True)
class SetData:
    """Sets ready for likelihoods: unique sets per fit, weighted so each fit's weights sum to 1.

    items: (N, L) long (padded with 0 beyond `sizes`), sizes: (N,), weights: (N,) float64 (count / total
    count of its fit, so weighted sums are mean log-likelihoods per set), fit: (N,) long in 0..n_fits-1,
    active: (n_fits, n_items) bool, the ground set of each fit (models of different sizes fitted in
    one batch: an inactive item never fires).
    """

    n_items: int
    n_fits: int
    items: Tensor
    sizes: Tensor
    weights: Tensor
    fit: Tensor
    active: Tensor
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def lattice(self) -> _Lattice:
        """The union subset lattice of these sets (built once, then cached)."""
        if "lattice" not in self._cache:
            self._cache["lattice"] = _build_lattice(self.items, self.sizes, self.fit, self.active)
        return self._cache["lattice"]

    def split(self, exact_below: int) -> tuple[SetData, SetData]:
        """(sets with fewer than `exact_below` items, the others), each cached."""
        key = ("split", exact_below)
        if key not in self._cache:
            small = self.sizes < exact_below
            self._cache[key] = (self.select(small), self.select(~small))
        return self._cache[key]

    def tile(self, repeats: int) -> SetData:
        """The same data for `repeats` copies of every fit (restarts): fit f becomes f*repeats + r."""
        repeats = _check_positive_int("repeats", repeats)
        r = torch.arange(repeats)
        fit = (self.fit[:, None] * repeats + r[None, :]).reshape(-1)
        rep = lambda t: t.repeat_interleave(repeats, dim=0)
        return SetData(self.n_items, self.n_fits * repeats, rep(self.items), rep(self.sizes),
                       rep(self.weights), fit, rep(self.active))

    def select(self, mask: Tensor) -> SetData:
        """The rows where `mask` (N,) is true, trimmed to their longest set."""
        sizes = self.sizes[mask]
        width = int(sizes.max()) if sizes.numel() else 0
        return SetData(self.n_items, self.n_fits, self.items[mask][:, :width], sizes, self.weights[mask],
                       self.fit[mask], self.active)


def prepare_sets(datasets: Sequence[Iterable[Iterable[int]] | np.ndarray], n_items: int,
                 counts: Sequence[Sequence[float] | np.ndarray | None] | None = None,
                 n_active: Sequence[int] | None = None) -> SetData:
    """Deduplicate and weight the sets of one or more data sets (one fit each).

    `datasets[f]` is a list of sets (or a 0/1 matrix) for fit f; `counts[f]` optional multiplicities
    (non-negative, not all zero); `n_active[f]` (default `n_items`) the size of fit f's ground set,
    items 0..n_active[f]-1. Returns `SetData` whose weights of each fit sum to 1.
    """
    n_items = _check_positive_int("n_items", n_items)
    if counts is not None and len(counts) != len(datasets):
        raise ValueError(f"counts needs one entry per data set ({len(datasets)}), got {len(counts)}")
    n_active = [n_items] * len(datasets) if n_active is None else list(n_active)
    if len(n_active) != len(datasets) or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 1 <= a <= n_items
            for a in n_active):
        raise ValueError(f"n_active needs one ground-set size in 1..{n_items} per data set")
    rows, sizes, weights, fits = [], [], [], []
    for f, data in enumerate(datasets):
        sets = as_sets(data, int(n_active[f]))
        if not sets:
            raise ValueError(f"data set {f} is empty; pass at least one set")
        c = None if counts is None else counts[f]
        c = np.ones(len(sets)) if c is None else np.asarray(c, dtype=float)
        if c.shape != (len(sets),):
            raise ValueError(f"counts[{f}] must have one count per set ({len(sets)}), got shape {c.shape}")
        if not np.isfinite(c).all() or (c < 0).any() or c.sum() <= 0:
            raise ValueError(f"counts[{f}] must be finite, non-negative and not all zero")
        total: dict[tuple[int, ...], float] = {}
        for s, w in zip(sets, c, strict=True):
            total[s] = total.get(s, 0.0) + float(w)
        keep = [(s, w) for s, w in sorted(total.items(), key=lambda kv: (len(kv[0]), kv[0])) if w > 0]
        mass = sum(w for _, w in keep)
        for s, w in keep:
            rows.append(s)
            sizes.append(len(s))
            weights.append(w / mass)
            fits.append(f)
    width = max(sizes)
    items = torch.zeros(len(rows), width, dtype=torch.long)
    for k, s in enumerate(rows):  # one-off packing of the input, not a hot path
        items[k, :len(s)] = torch.tensor(s, dtype=torch.long)
    active = torch.arange(n_items)[None, :] < torch.tensor(n_active)[:, None]
    return SetData(n_items, len(datasets), items, torch.tensor(sizes), torch.tensor(weights, dtype=DTYPE),
                   torch.tensor(fits), active)


# ---------------------------------------------------------------------------------------------
# synthetic models and the Gillespie sampler


def synthetic_theta(block: Sequence[Sequence[float]] | np.ndarray, n_extra: int, low: float = -1.0,
                    high: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """The paper's synthetic model: a dependent `block` plus `n_extra` independent items.

    The extra items have base rates θ_kk ~ U(low, high) and no interactions. Returns (k + n_extra)².
    """
    b = check_theta(block)
    n_extra = _check_positive_int("n_extra", n_extra, lo=0)
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"need finite low <= high for the extra items' base rates, got {low}, {high}")
    k = b.shape[0]
    theta = torch.zeros(k + n_extra, k + n_extra, dtype=DTYPE)
    theta[:k, :k] = b
    rates = low + (high - low) * torch.rand(n_extra, generator=generator, dtype=DTYPE)
    theta[k:, k:] = torch.diag(rates)
    return theta


@dataclass(frozen=True)
class Trajectories:
    """Sampled histories: orders (N, n) long padded with -1, sizes (N,), observation times (N,)."""

    orders: Tensor
    sizes: Tensor
    times: Tensor

    def sets(self) -> list[tuple[int, ...]]:
        """The observed (unordered) sets, as sorted tuples: what cross-sectional data keeps."""
        sizes = self.sizes.tolist()
        return [tuple(sorted(row[:k].tolist())) for row, k in zip(self.orders, sizes, strict=True)]

    def matrix(self, n_items: int) -> Tensor:
        """The sets as a 0/1 matrix (N, n_items)."""
        mat = torch.zeros(self.orders.shape[0], n_items + 1, dtype=torch.long)
        mat.scatter_(1, torch.where(self.orders < 0, n_items, self.orders), 1)
        return mat[:, :n_items]


def _with_observation(logits: Tensor, present: Tensor) -> Tensor:
    """Event log-rates (..., 1 + n): the observation (log 1 = 0) then the items not yet present."""
    zeros = torch.zeros(*logits.shape[:-1], 1, dtype=logits.dtype)
    return torch.cat([zeros, logits.masked_fill(present, -math.inf)], -1)


def _gumbel(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=DTYPE).clamp_(1e-300, 1.0)
    return -torch.log(-torch.log(u))


def sample(theta: Tensor | np.ndarray, n_samples: int, generator: torch.Generator | None = None
           ) -> Trajectories:
    """Gillespie simulation of the CTMC until its rate-1 observation, vectorized over samples.

    Each step draws the next event among the missing items (rates λ_j(S)) and the observation (rate 1),
    and a holding time Exp(1 + Σ_j λ_j(S)); the loop runs over steps, at most n + 1.
    """
    theta = check_theta(theta)
    n_samples = _check_positive_int("n_samples", n_samples)
    n = theta.shape[0]
    logits = theta.diagonal().expand(n_samples, n).clone()  # log λ_j(S) for every sample
    present = torch.zeros(n_samples, n, dtype=torch.bool)
    orders = torch.full((n_samples, n), -1, dtype=torch.long)
    sizes = torch.zeros(n_samples, dtype=torch.long)
    times = torch.zeros(n_samples, dtype=DTYPE)
    active = torch.ones(n_samples, dtype=torch.bool)
    rows = torch.arange(n_samples)
    for step in range(n + 1):
        events = _with_observation(logits, present)
        log_total = torch.logsumexp(events, 1)
        hold = -torch.log1p(-torch.rand(n_samples, generator=generator, dtype=DTYPE)) / log_total.exp()
        times += torch.where(active, hold, 0.0)
        choice = (events + _gumbel(events.shape, generator)).argmax(1)
        move = active & (choice > 0)
        if step == n:  # every item present: only the observation can happen
            break
        item = (choice - 1).clamp(min=0)
        orders[rows[move], step] = item[move]
        present[rows[move], item[move]] = True
        logits[move] += theta[item[move]]
        sizes += move.long()
        active = move
        if not bool(active.any()):
            break
    return Trajectories(orders, sizes, times)


# ---------------------------------------------------------------------------------------------
# likelihoods: ordered sequences (Eq. 6) and sets (exact dynamic programming)


def _fit_index(theta: Tensor, fit: Tensor | None, batch: int) -> tuple[Tensor, Tensor]:
    """θ as (F, n, n) and a fit index (batch,) into it."""
    if theta.dim() == 2:
        theta = theta.unsqueeze(0)
    if fit is None:
        if theta.shape[0] != 1:
            raise ValueError("theta has several fits (F, n, n): pass `fit`, the fit of every row")
        return theta, torch.zeros(batch, dtype=torch.long)
    fit = torch.as_tensor(fit, dtype=torch.long)
    if fit.shape != (batch,) or (batch and (int(fit.min()) < 0 or int(fit.max()) >= theta.shape[0])):
        raise ValueError(f"fit must be ({batch},) with values in 0..{theta.shape[0] - 1}")
    return theta, fit


def _check_orders(orders: Tensor, sizes: Tensor | None, n: int) -> tuple[Tensor, Tensor]:
    orders = torch.as_tensor(orders, dtype=torch.long)
    if orders.dim() == 1:
        orders = orders.unsqueeze(0)
    if orders.dim() != 2:
        raise ValueError(f"orders must be (B, L) item indices, got shape {tuple(orders.shape)}")
    B, L = orders.shape
    sizes = (orders >= 0).sum(1) if sizes is None else torch.as_tensor(sizes, dtype=torch.long).reshape(-1)
    if sizes.shape != (B,) or (B and (int(sizes.min()) < 0 or int(sizes.max()) > L)):
        raise ValueError(f"sizes must be ({B},) with values in 0..{L}")
    valid = torch.arange(L)[None, :] < sizes[:, None]
    if valid.any() and (int(orders[valid].min()) < 0 or int(orders[valid].max()) >= n):
        raise ValueError(f"orders hold items outside the ground set 0..{n - 1}")
    clean = torch.where(valid, orders, 0)
    present = torch.zeros(B, n + 1, dtype=torch.long)
    present.scatter_add_(1, torch.where(valid, orders, n), torch.ones_like(orders))
    if (present[:, :n] > 1).any():
        raise ValueError("an ordering repeats an item; each item appears at most once")
    return clean, sizes


def _sequence_events(theta: Tensor, fit: Tensor, orders: Tensor, sizes: Tensor,
                     inactive: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per step k = 0..L of each ordering x (B, L): the log-rates (B, L+1, n) of every item at S_k,
    the same with items in S_k at −inf, log(1 + Σ_{j∉S_k} λ_j(S_k)) (B, L+1), and valid (B, L).
    `inactive` (F, n): items outside each fit's ground set (they never fire)."""
    B, L = orders.shape
    n = theta.shape[-1]
    valid = torch.arange(L)[None, :] < sizes[:, None]  # (B, L)
    rows = theta[fit[:, None], orders] * valid[..., None]  # (B, L, n): θ_{x_k, :}
    logits = torch.cat([torch.zeros(B, 1, n, dtype=theta.dtype), rows.cumsum(1)], 1)  # Σ_{i∈S_k} θ_i,:
    logits += theta.diagonal(dim1=-2, dim2=-1)[fit][:, None, :]  # (B, L+1, n): log λ_j(S_k)
    pos = torch.full((B, n + 1), L + 1, dtype=torch.long)  # position of each item in the ordering
    pos.scatter_(1, torch.where(valid, orders, n), torch.arange(L).expand(B, L).clone())
    member = pos[:, None, :n] < torch.arange(L + 1)[None, :, None]  # item j ∈ S_k
    if inactive is not None:
        member |= inactive[fit][:, None, :]
    masked = logits.masked_fill(member, -math.inf)
    log_norm = torch.logaddexp(torch.zeros((), dtype=theta.dtype), torch.logsumexp(masked, 2))
    return logits, masked, log_norm, valid


def _sequence_loglik(theta: Tensor, fit: Tensor, orders: Tensor, sizes: Tensor,
                     inactive: Tensor | None = None) -> Tensor:
    """Eq. 6 for a batch (no validation): theta (F, n, n), fit (B,), orders (B, L), sizes (B,) → (B,)."""
    if orders.shape[0] == 0:
        return torch.zeros(0, dtype=theta.dtype)
    logits, _, log_norm, valid = _sequence_events(theta, fit, orders, sizes, inactive)
    L = orders.shape[1]
    steps = logits[:, :L].gather(2, orders[..., None]).squeeze(2) - log_norm[:, :L]  # log P(x_k | S_k)
    stop = log_norm.gather(1, sizes[:, None]).squeeze(1)  # −log P(observation | S)
    return torch.where(valid, steps, 0.0).sum(1) - stop


def _sequence_grad(theta: Tensor, fit: Tensor, orders: Tensor, sizes: Tensor, weights: Tensor,
                   inactive: Tensor | None = None) -> Tensor:
    """Σ_b weights_b ∇_θ log p(x_b) (Eq. 6) in closed form: (F, n, n).

    ∂/∂θ_jj = Σ_k ([x_k = j] − P_k(j)) and, for i = x_a, ∂/∂θ_ij = Σ_{k>a} ([x_k = j] − P_k(j)), with
    P_k(j) the probability that j fires next at S_k (0 for j ∈ S_k) and k running to |S|.
    """
    F, n = theta.shape[0], theta.shape[-1]
    grad = torch.zeros(F, n, n, dtype=theta.dtype)
    B, L = orders.shape
    if B == 0:
        return grad
    _, masked, log_norm, valid = _sequence_events(theta, fit, orders, sizes, inactive)
    steps = torch.arange(L + 1)[None, :] <= sizes[:, None]  # (B, L+1): k = 0..|S|
    scale = torch.where(steps, -weights[:, None], 0.0)  # −w_b on the steps that exist
    diff = (masked - log_norm[..., None]).exp_().mul_(scale[..., None])  # −w P_k(j)
    diff[:, :L].scatter_add_(2, orders[..., None], (valid * weights[:, None]).to(theta.dtype)[..., None])
    after = diff.flip(1).cumsum(1).flip(1)[:, 1:] * valid[..., None]  # (B, L, n): Σ_{k>a}
    grad.index_put_((fit[:, None].expand(B, L), orders), after, accumulate=True)
    grad.diagonal(dim1=1, dim2=2).index_add_(0, fit, diff.sum(1))
    return grad


def _chunks(batch: int, per_row: int) -> Iterable[slice]:
    step = max(1, CHUNK // max(per_row, 1))
    return (slice(a, min(a + step, batch)) for a in range(0, batch, step))


def sequence_loglik(theta: Tensor | np.ndarray, orders: Tensor | np.ndarray | Sequence,
                    sizes: Tensor | None = None, fit: Tensor | None = None) -> Tensor:
    """Log-probability (Eq. 6) of each ordering, observation included: orders (B, L) → (B,).

    `orders` holds item indices (padding -1 when `sizes` is None); `theta` is (n, n), or (F, n, n)
    with `fit` (B,) naming each row's model. Differentiable in θ.
    """
    batched = theta.dim() == 3 if isinstance(theta, Tensor) else np.ndim(theta) == 3
    theta = check_theta(theta, batched=batched)
    orders, sizes = _check_orders(orders, sizes, theta.shape[-1])
    theta, fit = _fit_index(theta, fit, orders.shape[0])
    per_row = (orders.shape[1] + 1) * theta.shape[-1]
    parts = [_sequence_loglik(theta, fit[c], orders[c], sizes[c]) for c in _chunks(orders.shape[0], per_row)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=theta.dtype)


@dataclass(frozen=True)
class _Lattice:
    """The union, per fit, of the subset lattices of some sets: every A ⊆ S of every set S, once.

    The forward value f(A) = log Σ_{orderings of A} p(reach A that way) does not depend on which
    set A is a subset of, so one DP over the union serves all sets of a fit. Layer t holds the
    subsets of size t: fit (M_t,), canonical predecessor (M_t,) in layer t−1 and the item it adds
    (M_t,), all predecessors (M_t, t) and the items they add (M_t, t), and membership (M_t, n).
    `targets` (N,) is each set's state, indexed into the concatenated layers.
    """

    root_fit: Tensor
    layers: tuple[tuple[Tensor, Tensor, Tensor, Tensor, Tensor], ...]
    members: tuple[Tensor, ...]
    targets: Tensor


@functools.lru_cache(maxsize=8)
def _zobrist(n: int, salt: int) -> np.ndarray:
    """n fixed random 64-bit keys (the same in every run)."""
    rng = np.random.default_rng([0x5EED, n, salt])
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


def _build_lattice(items: Tensor, sizes: Tensor, fit: Tensor, active: Tensor) -> _Lattice:
    """Enumerate the subsets of every set (Σ 2^|S| of them), merge equal ones per fit, link the layers.

    A subset is identified by its 64-bit Zobrist key (its fit's key plus the sum of its items' keys,
    wrapping), so equal subsets of different sets become one state; a collision among M states has
    probability about M²/2^64.
    """
    n_fits, n_items = active.shape
    item_key, fit_key = _zobrist(n_items, 0), _zobrist(n_fits, 1)
    inactive = ~active.numpy()
    items_np, sizes_np, fit_np = items.numpy(), sizes.numpy(), fit.numpy()
    keys, source, subset = [], [], []
    set_key = np.zeros(len(sizes_np), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for s in np.unique(sizes_np).tolist():  # one group per set size
            rows = np.flatnonzero(sizes_np == s)
            bits = ((np.arange(1 << s)[:, None] >> np.arange(s)[None, :]) & 1).astype(np.uint64)
            member_keys = item_key[items_np[rows, :s]][:, None, :]  # (rows, 1, s)
            k = fit_key[fit_np[rows]][:, None] + (bits[None] * member_keys).sum(2)  # (rows, 2^s)
            set_key[rows] = k[:, -1]
            keys.append(k.reshape(-1))
            source.append(np.repeat(rows, 1 << s))
            subset.append(np.tile(np.arange(1 << s), len(rows)))
        key_u, first = np.unique(np.concatenate(keys), return_index=True)
        source_u, subset_u = np.concatenate(source)[first], np.concatenate(subset)[first]
        width_u = sizes_np[source_u]
        layer_u = np.bitwise_count(subset_u.astype(np.uint64)).astype(np.int64)
        layers, members, sorted_keys, offsets = [], [], [], [0]
        for t in range(int(layer_u.max()) + 1):  # one layer per subset size
            sel = np.flatnonzero(layer_u == t)  # key_u is sorted, so each layer is too
            sorted_keys.append(key_u[sel])
            chosen = np.zeros((len(sel), t), dtype=np.int64)
            for s in np.unique(width_u[sel]).tolist():
                part = np.flatnonzero(width_u[sel] == s)
                mask = ((subset_u[sel][part][:, None] >> np.arange(s)[None, :]) & 1).astype(bool)
                chosen[part] = items_np[source_u[sel][part], :s][mask].reshape(len(part), t)
            member = inactive[fit_np[source_u[sel]]]  # items outside the fit's ground set never fire
            np.put_along_axis(member, chosen, True, axis=1)
            members.append(torch.from_numpy(member))
            state_fit = torch.from_numpy(fit_np[source_u[sel]])
            if t == 0:
                root_fit = state_fit
            else:
                pred_keys = key_u[sel][:, None] - item_key[chosen]  # A minus each of its items
                preds = torch.from_numpy(np.searchsorted(sorted_keys[t - 1], pred_keys))
                added = torch.from_numpy(chosen)
                layers.append((state_fit, preds[:, -1].contiguous(), added[:, -1].contiguous(), preds, added))
            offsets.append(offsets[-1] + len(sel))
    targets = np.zeros(len(sizes_np), dtype=np.int64)
    for s in np.unique(sizes_np).tolist():
        rows = np.flatnonzero(sizes_np == s)
        targets[rows] = offsets[s] + np.searchsorted(sorted_keys[s], set_key[rows])
    return _Lattice(root_fit, tuple(layers), tuple(members), torch.from_numpy(targets))


def _lattice_loglik(theta: Tensor, lat: _Lattice) -> Tensor:
    """Exact log p(S) of the lattice's sets (N,): the DP of Eq. 6 summed over orderings, layer by layer.

    f(A) = logsumexp_{j ∈ A} [f(A∖j) + log λ_j(A∖j) − log(1 + Σ_{l∉A∖j} λ_l(A∖j))]; p(S) adds the
    observation at S. The log-rates of a state are its canonical predecessor's plus one row of θ.
    """
    zero = torch.zeros((), dtype=theta.dtype)

    def normalizer(logits: Tensor, member: Tensor) -> Tensor:  # log(1 + Σ_{j∉A} λ_j(A)), (M,)
        # a row of only members (A = the ground set) gives logsumexp −inf: its NaN gradient is masked
        return torch.logaddexp(zero, torch.logsumexp(logits.masked_fill(member, -math.inf), -1))

    logits = theta.diagonal(dim1=-2, dim2=-1)[lat.root_fit]  # (M_0, n)
    log_norm = normalizer(logits, lat.members[0])
    f = torch.zeros(logits.shape[0], dtype=theta.dtype)
    values = [f - log_norm]
    for (fit, canon, item, preds, added), member in zip(lat.layers, lat.members[1:], strict=True):
        f = torch.logsumexp(f[preds] + (logits - log_norm[:, None])[preds, added], 1)
        logits = logits[canon] + theta[fit, item]
        log_norm = normalizer(logits, member)
        values.append(f - log_norm)
    return torch.cat(values)[lat.targets]


def _set_loglik(theta: Tensor, data: SetData, limit: int = MAX_EXACT_SET) -> Tensor:
    """Exact log p(S) of every row of `data` (N,) through the union lattice (cached on `data`)."""
    if data.sizes.numel() and int(data.sizes.max()) > limit:
        raise ValueError(f"exact set likelihood needs 2^|S| states; sets of {int(data.sizes.max())} items "
                         f"exceed the limit of {limit}: use the approximate gradient (approx_gradient)")
    if data.sizes.numel() == 0:
        return torch.zeros(0, dtype=theta.dtype)
    return _lattice_loglik(theta, data.lattice())


def set_loglik(theta: Tensor | np.ndarray, sets: Iterable[Iterable[int]] | np.ndarray) -> Tensor:
    """Exact log p(S) of each set under θ (n, n), summing over all orderings by DP: → (N,) float64."""
    theta = check_theta(theta)
    n = theta.shape[-1]
    rows = as_sets(sets, n)
    width = max((len(r) for r in rows), default=0)
    items = torch.zeros(len(rows), width, dtype=torch.long)
    for k, r in enumerate(rows):
        items[k, :len(r)] = torch.tensor(r, dtype=torch.long)
    data = SetData(n, 1, items, torch.tensor([len(r) for r in rows], dtype=torch.long),
                   torch.full((len(rows),), 1.0 / max(len(rows), 1), dtype=DTYPE),
                   torch.zeros(len(rows), dtype=torch.long), torch.ones(1, n, dtype=torch.bool))
    return _set_loglik(theta.unsqueeze(0), data)


def log_likelihood(theta: Tensor | np.ndarray, data: SetData) -> Tensor:
    """Exact mean log-likelihood per set of each fit: theta (F, n, n) or (n, n) → (F,)."""
    theta = check_theta(theta, batched=True)
    if theta.shape[0] != data.n_fits or theta.shape[-1] != data.n_items:
        raise ValueError(f"theta must be ({data.n_fits}, {data.n_items}, {data.n_items}) for this data, "
                         f"got {tuple(theta.shape)}")
    per_set = _set_loglik(theta, data) * data.weights
    return torch.zeros(data.n_fits, dtype=DTYPE).index_add(0, data.fit, per_set)


# ---------------------------------------------------------------------------------------------
# Metropolis–Hastings over orderings and the gradients (Eq. 7)


PROPOSALS = ("hazard", "promote", "uniform")


def _propose(theta: Tensor, fit: Tensor, items: Tensor, sizes: Tensor, n_proposals: int,
             generator: torch.Generator | None, proposal: str) -> tuple[Tensor, Tensor]:
    """Draw `n_proposals` orderings of each set: positions (B, T, L) into `items`, and log q (B, T).

    Orderings are built one item at a time from the set's remaining items R, given the placed ones P:
    "hazard" (the paper's appendix, per our notes): pick i ∈ R with prob ∝ λ_i(P) =
    exp(θ_ii + Σ_{j∈P} θ_ji), the chain's own next-step choice restricted to the set; "promote" (the
    official code's heuristic): prob ∝ exp(Σ_{j∈R∖i} θ_ij), items that promote the rest first;
    "uniform": a random permutation.
    """
    B, L = items.shape
    T = n_proposals
    valid = torch.arange(L)[None, :] < sizes[:, None]  # (B, L)
    if proposal == "uniform":
        keys = torch.rand(B, T, L, generator=generator, dtype=DTYPE).masked_fill(~valid[:, None, :], 2.0)
        return keys.argsort(2), torch.zeros(B, T, dtype=DTYPE)
    pair = theta[fit[:, None, None], items[:, :, None], items[:, None, :]]  # (B, L, L): θ_{x_a x_b}
    pair = pair * (valid[:, :, None] & valid[:, None, :]) * (1 - torch.eye(L, dtype=DTYPE))
    if proposal == "hazard":
        start = theta.diagonal(dim1=-2, dim2=-1)[fit[:, None], items] * valid  # θ_ii
        update = pair  # placing c adds θ_{c i} to every i
    else:
        start = pair.sum(2)  # Σ_{j∈R∖i} θ_ij with R = the whole set
        update = -pair.transpose(1, 2)  # c leaves R: drop θ_{i c} from every i
    score = start[:, None, :].expand(B, T, L).clone()
    used = (~valid)[:, None, :].expand(B, T, L).clone()
    positions = torch.zeros(B, T, L, dtype=torch.long)
    log_q = torch.zeros(B, T, dtype=DTYPE)
    chains = torch.arange(B)[:, None]
    for k in range(L):  # one position at a time, vectorized over sets and proposals
        live = (k < sizes)[:, None]  # (B, 1)
        logits = torch.where(live[..., None], score.masked_fill(used, -math.inf), 0.0)
        pick = (logits + _gumbel(logits.shape, generator)).argmax(2)  # (B, T)
        gain = logits.gather(2, pick[..., None]).squeeze(2) - torch.logsumexp(logits, 2)
        log_q += torch.where(live, gain, 0.0)
        positions[:, :, k] = torch.where(live, pick, k)
        used.scatter_(2, pick[..., None], True)
        score += update[chains, pick] * live[..., None]
    return positions, log_q


def mh_orderings(theta: Tensor | np.ndarray, items: Tensor, sizes: Tensor, n_samples: int = 50,
                 burn_in: int = 5, generator: torch.Generator | None = None, proposal: str = "hazard",
                 fit: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Independent Metropolis–Hastings over orderings of each set, targeting p(π | S) ∝ p(π).

    items (B, L) padded sets with sizes (B,). The chain starts at a proposal draw, then each of
    `burn_in + n_samples` proposals π' is accepted with min(1, p(π') q(π) / (p(π) q(π'))); the last
    `n_samples` states are kept. Returns every proposal (B, 1 + burn_in + n_samples, L) as an item
    ordering and the fraction of the kept states spent on it (B, 1 + burn_in + n_samples); rows sum to 1.
    """
    theta = check_theta(theta, batched=True)
    n_samples = _check_positive_int("n_samples", n_samples)
    burn_in = _check_positive_int("burn_in", burn_in, lo=0)
    if proposal not in PROPOSALS:
        raise ValueError(f"proposal must be one of {', '.join(PROPOSALS)} ('hazard' is the paper's), "
                         f"got {proposal!r}")
    items, sizes = _check_orders(items, sizes, theta.shape[-1])
    theta, fit = _fit_index(theta, fit, items.shape[0])
    with torch.no_grad():
        return _mh(theta.detach(), fit, items, sizes, n_samples, burn_in, generator, proposal)


def _mh(theta: Tensor, fit: Tensor, items: Tensor, sizes: Tensor, n_samples: int, burn_in: int,
        generator: torch.Generator | None, proposal: str, inactive: Tensor | None = None
        ) -> tuple[Tensor, Tensor]:
    B, L = items.shape
    T = 1 + burn_in + n_samples
    positions, log_q = _propose(theta, fit, items, sizes, T, generator, proposal)
    orders = items[torch.arange(B)[:, None, None], positions]  # (B, T, L)
    flat = orders.reshape(B * T, L)
    flat_sizes = sizes.repeat_interleave(T)
    flat_fit = fit.repeat_interleave(T)
    per_row = (L + 1) * theta.shape[-1]
    log_p = torch.cat([_sequence_loglik(theta, flat_fit[c], flat[c], flat_sizes[c], inactive)
                       for c in _chunks(B * T, per_row)]).reshape(B, T)
    # independent MH accepts π' with prob min(1, w(π')/w(π)) for importance weights w = p/q
    log_w = (log_p - log_q).numpy()
    log_u = torch.rand(B, T, generator=generator, dtype=DTYPE).log().numpy()
    current = np.zeros(B, dtype=np.int64)
    held = np.zeros((B, T))
    chains = np.arange(B)
    for t in range(1, T):  # the chain is sequential in t, vectorized over sets (numpy: tiny arrays)
        accept = log_u[:, t] < log_w[:, t] - log_w[chains, current]
        current[accept] = t
        if t > burn_in:
            held[chains, current] += 1.0
    return orders, torch.from_numpy(held / n_samples)


def _mh_gradient(theta: Tensor, data: SetData, n_samples: int, burn_in: int,
                 generator: torch.Generator | None, proposal: str) -> Tensor:
    """Σ_S w_S E_{π|S}[∇ log p(π)] estimated by MH (Eq. 7): each kept state weighted by its share."""
    inactive = ~data.active
    orders, held = _mh(theta, data.fit, data.items, data.sizes, n_samples, burn_in, generator, proposal,
                       inactive)
    keep = held > 0  # distinct proposals the chain sat on
    B, T, L = orders.shape
    rows = orders[keep]
    weights = (held * data.weights[:, None])[keep]
    fits = data.fit[:, None].expand(B, T)[keep]
    lens = data.sizes[:, None].expand(B, T)[keep]
    grad = torch.zeros_like(theta)
    for c in _chunks(rows.shape[0], 3 * (L + 1) * theta.shape[-1]):
        grad += _sequence_grad(theta, fits[c], rows[c], lens[c], weights[c], inactive)
    return grad


def approx_gradient(theta: Tensor | np.ndarray, data: SetData, n_samples: int = 50, burn_in: int = 5,
                    exact_below: int = EXACT_BELOW, generator: torch.Generator | None = None,
                    proposal: str = "hazard") -> Tensor:
    """The paper's approximate gradient of each fit's mean log-likelihood (Eq. 7): (F, n, n).

    Sets with fewer than `exact_below` items use the exact DP gradient; larger ones the MH estimate
    E_{π|S}[∇ log p(π)] from `n_samples` kept states after `burn_in`.
    """
    theta = check_theta(theta, batched=True).detach()
    _check_data(theta, data)
    exact_below = _check_positive_int("exact_below", exact_below, lo=0)
    n_samples = _check_positive_int("n_samples", n_samples)
    burn_in = _check_positive_int("burn_in", burn_in, lo=0)
    if proposal not in PROPOSALS:
        raise ValueError(f"proposal must be one of {', '.join(PROPOSALS)} ('hazard' is the paper's), "
                         f"got {proposal!r}")
    small, big = data.split(exact_below)
    grad = torch.zeros_like(theta)
    if small.sizes.numel():
        leaf = theta.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad((_set_loglik(leaf, small) * small.weights).sum(), leaf)
    if big.sizes.numel():
        grad = grad + _mh_gradient(theta, big, n_samples, burn_in, generator, proposal)
    return grad


def exact_gradient(theta: Tensor | np.ndarray, data: SetData) -> Tensor:
    """Gradient of each fit's exact mean log-likelihood (autograd through the DP): (F, n, n)."""
    theta = check_theta(theta, batched=True).detach().requires_grad_(True)
    _check_data(theta, data)
    (grad,) = torch.autograd.grad((_set_loglik(theta, data) * data.weights).sum(), theta)
    return grad


def _check_data(theta: Tensor, data: SetData) -> None:
    if theta.shape[0] != data.n_fits or theta.shape[-1] != data.n_items:
        raise ValueError(f"theta must be ({data.n_fits}, {data.n_items}, {data.n_items}) for this data, "
                         f"got {tuple(theta.shape)}")


# ---------------------------------------------------------------------------------------------
# fitting: AdaGrad with an L1 proximal step, diagonal warm start


@dataclass(frozen=True)
class FitResult:
    """theta (F, n, n); iterations run per fit (F,); converged (F,) bool; mean log-likelihood (F,),
    exact, NaN when a set has more than MAX_SCORED_SET items."""

    theta: Tensor
    n_iter: Tensor
    converged: Tensor
    loglik: Tensor


def _adagrad_prox(theta: Tensor, data: SetData, max_iter: int, step: float, reg: float, only_diag: bool,
                  tol: float, window: int, grad_kw: dict, generator: torch.Generator | None
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """AdaGrad ascent on the mean log-likelihood with the L1 prox on off-diagonals (official optimizer).

    A fit stops (is frozen) once θ moved less than `tol` (max abs) over the last `window` iterations.
    """
    F, n, _ = theta.shape
    theta = theta.clone()
    sq = torch.zeros_like(theta)
    off = ~torch.eye(n, dtype=torch.bool)
    history = torch.zeros(window, F, n, n, dtype=DTYPE)
    running = torch.ones(F, dtype=torch.bool)
    n_iter = torch.zeros(F, dtype=torch.long)
    for it in range(max_iter):
        grad = approx_gradient(theta, data, generator=generator, **grad_kw)
        sq += grad**2
        scale = step / (1e-6 + sq.sqrt())
        new = theta + scale * grad
        if only_diag:
            new = torch.where(off, 0.0, new)
        else:
            shrunk = new.sign() * (new.abs() - scale * reg).clamp(min=0.0)
            new = torch.where(off, shrunk, new)
        theta = torch.where(running[:, None, None], new, theta)
        n_iter += running.long()
        moved = (theta - history[it % window]).abs().amax((1, 2))
        history[it % window] = theta
        running &= ~(moved < tol)
        if not bool(running.any()):
            break
    return theta, n_iter, ~running


def fit_ctmc(data: SetData, *, max_iter: int = 3000, step: float = 1.0, reg: float = 0.01,
             warm_start_iter: int = 101, init_range: float = 0.2, mh_samples: int = 50, burn_in: int = 5,
             exact_below: int = EXACT_BELOW, proposal: str = "hazard", tol: float = 0.03, window: int = 200,
             generator: torch.Generator | None = None) -> FitResult:
    """Fit one θ per fit of `data` at once (restarts: `data.tile(r)`), the official code's recipe.

    Diagonal-only warm start (`warm_start_iter` AdaGrad steps, no penalty), off-diagonals drawn from
    U(−init_range, init_range), then AdaGrad (step `step`) with the L1 prox (`reg`) on the
    approximate gradient until θ moves less than `tol` over `window` iterations or `max_iter`.
    """
    max_iter = _check_positive_int("max_iter", max_iter)
    warm_start_iter = _check_positive_int("warm_start_iter", warm_start_iter, lo=0)
    for name, v in (("step", step), ("reg", reg), ("init_range", init_range), ("tol", tol)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    window = _check_positive_int("window", window)
    grad_kw = dict(n_samples=mh_samples, burn_in=burn_in, exact_below=exact_below, proposal=proposal)
    n, F = data.n_items, data.n_fits
    theta = torch.zeros(F, n, n, dtype=DTYPE)
    if warm_start_iter:
        theta, _, _ = _adagrad_prox(theta, data, warm_start_iter, step, 0.0, True, -1.0, window, grad_kw,
                                    generator)
    pairs = data.active[:, :, None] & data.active[:, None, :]  # (F, n, n): entries of each fit's model
    noise = init_range * (2 * torch.rand(F, n, n, generator=generator, dtype=DTYPE) - 1)
    theta = theta + noise * (1 - torch.eye(n, dtype=DTYPE)) * pairs
    theta, n_iter, converged = _adagrad_prox(theta, data, max_iter, step, reg, False, tol, window, grad_kw,
                                             generator)
    theta = theta * pairs  # entries of items outside a fit's ground set carry no meaning: zero them
    if int(data.sizes.max()) <= MAX_SCORED_SET:
        loglik = log_likelihood(theta, data)
    else:
        loglik = torch.full((F,), math.nan, dtype=DTYPE)
    return FitResult(theta, n_iter, converged, loglik)


class CTMC:
    """A CTMC of item accumulation fitted to unordered sets, scikit-learn style.

    Parameters
    ----------
    n_items : size of the ground set (items 0..n_items-1).
    n_restarts : independent fits (random off-diagonal inits); `theta_` is the most likely one.
    max_iter, step, reg, warm_start_iter, init_range, tol, window : the optimizer (`fit_ctmc`).
    mh_samples, burn_in, exact_below, proposal : the approximate gradient (`approx_gradient`).
    random_state : seed of the torch generator (inits and MH).

    Attributes (after `fit`)
    ------------------------
    theta_ : (n, n) tensor, the best restart; thetas_ : (n_restarts, n, n); loglik_ : (n_restarts,)
    exact mean log-likelihood per set; n_iter_ : (n_restarts,) iterations run.

    Examples
    --------
    >>> truth = synthetic_theta(SYNTH2, 3, generator=torch.Generator().manual_seed(0))
    >>> sets = sample(truth, 500, torch.Generator().manual_seed(1)).sets()
    >>> model = CTMC(5, max_iter=300).fit(sets)
    >>> ordering_kl(truth, model.theta_, [0, 1]) >= 0
    True

    References: Gotovos et al., NeurIPS 2021 (arXiv:2107.02911); official code `learn.py`.
    """

    def __init__(self, n_items: int, n_restarts: int = 1, *, max_iter: int = 3000, step: float = 1.0,
                 reg: float = 0.01, warm_start_iter: int = 101, init_range: float = 0.2,
                 mh_samples: int = 50, burn_in: int = 5, exact_below: int = EXACT_BELOW,
                 proposal: str = "hazard", tol: float = 0.03, window: int = 200,
                 random_state: int = 0) -> None:
        self.n_items = n_items
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.step = step
        self.reg = reg
        self.warm_start_iter = warm_start_iter
        self.init_range = init_range
        self.mh_samples = mh_samples
        self.burn_in = burn_in
        self.exact_below = exact_below
        self.proposal = proposal
        self.tol = tol
        self.window = window
        self.random_state = random_state

    def fit(self, sets: Iterable[Iterable[int]] | np.ndarray, counts: Sequence[float] | None = None) -> CTMC:
        """Fit θ to unordered sets (item lists or a 0/1 matrix), optionally with multiplicities."""
        n_restarts = _check_positive_int("n_restarts", self.n_restarts)
        data = prepare_sets([sets], self.n_items, None if counts is None else [counts]).tile(n_restarts)
        seed = _check_positive_int("random_state", self.random_state, lo=0)
        generator = torch.Generator().manual_seed(seed)
        res = fit_ctmc(data, max_iter=self.max_iter, step=self.step, reg=self.reg,
                       warm_start_iter=self.warm_start_iter, init_range=self.init_range,
                       mh_samples=self.mh_samples, burn_in=self.burn_in, exact_below=self.exact_below,
                       proposal=self.proposal, tol=self.tol, window=self.window, generator=generator)
        self.thetas_, self.loglik_, self.n_iter_ = res.theta, res.loglik, res.n_iter
        best = 0 if torch.isnan(res.loglik).any() else int(res.loglik.argmax())
        self.theta_ = res.theta[best]
        return self

    def _fitted(self) -> Tensor:
        if not hasattr(self, "theta_"):
            raise ValueError("this CTMC is not fitted yet: call fit(sets) first")
        return self.theta_

    def score(self, sets: Iterable[Iterable[int]] | np.ndarray) -> float:
        """Exact mean log-likelihood per set of `sets` under `theta_`."""
        return float(set_loglik(self._fitted(), sets).mean())

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> Trajectories:
        """Draw histories from the fitted model (`sample`)."""
        return sample(self._fitted(), n_samples, generator)


# ---------------------------------------------------------------------------------------------
# ordering distributions of chosen items and their KL divergence


def _ancestors(theta: Tensor, items: list[int]) -> list[int]:
    """Items with a directed path of nonzero off-diagonal θ_ij (i influences j) into `items`."""
    n = theta.shape[0]
    adj = (theta != 0) & ~torch.eye(n, dtype=torch.bool)
    reach = torch.zeros(n, dtype=torch.bool)
    reach[items] = True
    while True:  # graph search: at most n rounds
        grown = reach | adj[:, reach].any(1)
        if bool((grown == reach).all()):
            break
        reach = grown
    reach[items] = False
    return torch.nonzero(reach).squeeze(1).tolist()


def ordered_subsets(k: int) -> list[tuple[int, ...]]:
    """All orderings of all subsets of k items (local indices), shortest first: Σ_j k!/(k−j)! of them."""
    return [p for r in range(k + 1) for p in itertools.permutations(range(k), r)]


def _exact_ordering(theta: Tensor, items: list[int], others: list[int]) -> Tensor:
    """Exact distribution over orderings of `items` (k of them) when only `others` can influence them.

    DP over states (ordering σ of the chosen items seen so far, subset of `others`), one layer per
    set size; the observation ends a path. Cost O(g · K · 2^a · a) for K orderings, a others, g = k + a.
    """
    k, a = len(items), len(others)
    ground = items + others
    g = k + a
    sub = theta[ground][:, ground]
    seqs = ordered_subsets(k)
    index = {s: i for i, s in enumerate(seqs)}
    K = len(seqs)
    child = torch.tensor([[index.get(s + (c,), K) if c not in s else K for c in range(k)] for s in seqs])
    cmask = torch.tensor([sum(1 << c for c in s) for s in seqs])
    masks = torch.arange(1 << g)
    bits = ((masks[:, None] >> torch.arange(g)[None, :]) & 1).to(DTYPE)
    logits = sub.diagonal()[None, :] + bits @ sub  # (2^g, g); full mask = cmask + (amask << k)
    logits = logits.masked_fill(bits.bool(), -math.inf)
    log_norm = torch.logaddexp(torch.zeros(1 << g, dtype=DTYPE), torch.logsumexp(logits, 1))
    probs = (logits - log_norm[:, None]).exp().reshape(1 << a, 1 << k, g).transpose(0, 1)  # (2^k, 2^a, g)
    stop = (-log_norm).exp().reshape(1 << a, 1 << k).T  # (2^k, 2^a)
    to_other = probs[cmask][:, :, k:]  # (K, 2^a, a)
    to_item = probs[cmask][:, :, :k]  # (K, 2^a, k)
    amasks = torch.arange(1 << a)
    targets = (amasks[:, None] | (1 << torch.arange(a))[None, :]).reshape(-1)  # (2^a * a,)
    popcount = ((amasks[:, None] >> torch.arange(a)[None, :]) & 1).sum(1)
    level = torch.tensor([len(s) for s in seqs])[:, None] + popcount[None, :]  # (K, 2^a): set size
    mass = torch.zeros(K + 1, 1 << a, dtype=DTYPE)
    mass[0, 0] = 1.0
    ended = torch.zeros(K, 1 << a, dtype=DTYPE)
    for t in range(g + 1):  # one layer per set size
        cur = torch.where(level == t, mass[:K], 0.0)
        ended += cur * stop[cmask]
        if a:
            flow = (cur[:, :, None] * to_other).reshape(K, -1)
            mass[:K].index_add_(1, targets, flow)
        flow_items = (cur[:, :, None] * to_item).permute(0, 2, 1).reshape(K * k, 1 << a)
        mass.index_add_(0, child.reshape(-1), flow_items)
    return ended.sum(1)


def ordering_distribution(theta: Tensor | np.ndarray, items: Sequence[int], max_exact: int = 14,
                          n_samples: int = 200_000, generator: torch.Generator | None = None
                          ) -> tuple[list[tuple[int, ...]], Tensor]:
    """Distribution of the order in which `items` appear in an observed history: (sequences, probs).

    Sequences are tuples of the chosen items (in the caller's labels), all orderings of all subsets.
    Exact when the chosen items plus their ancestors in θ's influence graph number at most
    `max_exact` (items outside them cannot change the chosen items' rates); Monte Carlo from
    `n_samples` Gillespie histories otherwise.
    """
    theta = check_theta(theta)
    n = theta.shape[0]
    chosen = [int(i) for i in items]
    if not chosen or len(set(chosen)) != len(chosen) or min(chosen) < 0 or max(chosen) >= n:
        raise ValueError(f"items must be distinct indices in 0..{n - 1}, got {list(items)}")
    seqs = ordered_subsets(len(chosen))
    labels = [tuple(chosen[c] for c in s) for s in seqs]
    others = _ancestors(theta, chosen)
    if len(chosen) + len(others) <= max_exact:
        return labels, _exact_ordering(theta, chosen, others)
    hist = sample(theta, n_samples, generator)
    return labels, _empirical_ordering(hist, chosen, len(seqs))


def _empirical_ordering(hist: Trajectories, chosen: list[int], n_seqs: int) -> Tensor:
    k = len(chosen)
    N, n = hist.orders.shape
    pos = torch.full((N, n + 1), n + 1, dtype=torch.long)
    valid = hist.orders >= 0
    pos.scatter_(1, torch.where(valid, hist.orders, n), torch.arange(n).expand(N, n).clone())
    pc = pos[:, chosen]  # (N, k): position of each chosen item, n+1 if absent
    order = pc.argsort(1)
    seen = (pc.gather(1, order) <= n)
    code = ((order + 1) * seen * (k + 1) ** torch.arange(k)[None, :]).sum(1)
    lookup = torch.full(((k + 1) ** k,), -1, dtype=torch.long)
    for i, s in enumerate(ordered_subsets(k)):
        lookup[sum((c + 1) * (k + 1) ** r for r, c in enumerate(s))] = i
    return torch.bincount(lookup[code], minlength=n_seqs).to(DTYPE) / N


def ordering_kl(theta_true: Tensor | np.ndarray, theta_learned: Tensor | np.ndarray, items: Sequence[int],
                max_exact: int = 14, n_samples: int = 200_000,
                generator: torch.Generator | None = None) -> float:
    """KL(p_learned ‖ p_true) between the ordering distributions of `items` (the paper's metric).

    The learned model's items are matched to the true model's by index (the chosen items come first in
    the synthetic models). Exact when `ordering_distribution` is exact for both; see there.
    """
    _, p_true = ordering_distribution(theta_true, items, max_exact, n_samples, generator)
    _, p_learned = ordering_distribution(theta_learned, items, max_exact, n_samples, generator)
    support = p_learned > 0
    return float((p_learned[support] * (p_learned[support] / p_true[support]).log()).sum())


def order_probability(theta: Tensor | np.ndarray, first: int, second: int, max_exact: int = 14,
                      n_samples: int = 200_000, generator: torch.Generator | None = None) -> float:
    """P(`first` appears before `second` | both observed) under θ."""
    labels, p = ordering_distribution(theta, [first, second], max_exact, n_samples, generator)
    fwd, bwd = p[labels.index((first, second))], p[labels.index((second, first))]
    return float(fwd / (fwd + bwd))


# ---------------------------------------------------------------------------------------------
# underspecification in closed form: two items


def _two_item_probs(set_probs: Sequence[float] | np.ndarray | Tensor) -> np.ndarray:
    p = np.asarray(set_probs, dtype=float)
    if p.shape != (4,) or not np.isfinite(p).all() or (p <= 0).any() or abs(p.sum() - 1) > 1e-9:
        raise ValueError("set_probs must be 4 positive probabilities summing to 1: p(∅), p({0}), p({1}), "
                         f"p({{0, 1}}); got {p.tolist()}")
    return p


def ridge_max_promote(set_probs: Sequence[float] | np.ndarray | Tensor) -> float:
    """The supremum of θ_01 on the two-item likelihood ridge: log(p(∅) p({0,1}) / (p({0}) p({1})))."""
    p = _two_item_probs(set_probs)
    return float(np.log(p[0] * p[3] / (p[1] * p[2])))


def two_item_ridge(set_probs: Sequence[float] | np.ndarray | Tensor, promote: Sequence[float] | np.ndarray
                   ) -> Tensor:
    """All two-item θ that reproduce a set distribution exactly, one for each θ_01 = c: (K, 2, 2).

    Two items give 3 free set probabilities for 4 parameters, so a curve of maximum-likelihood θ
    exists (the paper's underspecification argument): with Q = 1/p(∅) − 1, r_0 = p({0})/p(∅),
    r_1 = p({1})/p(∅): e^{θ_11} = (Q − r_0)/(1 + r_0 e^c), e^{θ_00} = Q − e^{θ_11} and
    e^{θ_00+θ_10} = e^{θ_11}/r_1 − 1, for every c < `ridge_max_promote`. Along it the order of the
    two items swings from 1 → 0 to 0 → 1.
    """
    p = _two_item_probs(set_probs)
    c = np.asarray(promote, dtype=float).reshape(-1)
    limit = ridge_max_promote(p)
    if not np.isfinite(c).all() or (c >= limit).any():
        raise ValueError(f"promote values must be finite and below {limit:.4f} (ridge_max_promote)")
    q, r0, r1 = 1 / p[0] - 1, p[1] / p[0], p[2] / p[0]
    e11 = (q - r0) / (1 + r0 * np.exp(c))
    t00 = np.log(q - e11)
    theta = np.stack([np.stack([t00, c], 1), np.stack([np.log(e11 / r1 - 1) - t00, np.log(e11)], 1)], 1)
    return torch.from_numpy(theta)


def extra_items_by_pattern(hist: Trajectories, k: int) -> dict[tuple[int, ...], float]:
    """Mean number of items beyond the first k in the observed sets, for each subset of the first k.

    The extra items act as a clock: sets observed later hold more of them, which is what tells the
    order of the first k items apart when their own set frequencies cannot (`two_item_ridge`).
    """
    k = _check_positive_int("k", k)
    present = hist.matrix(hist.orders.shape[1]).bool()
    n_extra = present[:, k:].sum(1).double()
    code = (present[:, :k].long() * (1 << torch.arange(k))).sum(1)
    out = {}
    for mask in range(1 << k):  # 2^k patterns of the block items
        pattern = tuple(i for i in range(k) if mask >> i & 1)
        sel = code == mask
        out[pattern] = float(n_extra[sel].mean()) if bool(sel.any()) else math.nan
    return out


# ---------------------------------------------------------------------------------------------
# the paper's synthetic experiment: does adding independent items resolve the time order?


@dataclass(frozen=True)
class Recovery:
    """Fits of a dependent block plus m independent items, for each m, seed (data set) and restart.

    extra: the m values (M,); kl, order, loglik: (M, seeds, restarts) arrays: KL(learned ‖ true) of the
    ordering distributions of the block's items, P(block item 0 before item 1 | both observed), and
    the exact mean log-likelihood per set; loglik_true (M, seeds): the true θ's on the same data;
    order_true (seeds,); thetas[i]: (seeds, restarts, n, n) for extra[i].
    """

    extra: list[int]
    seeds: list[int]
    kl: np.ndarray
    order: np.ndarray
    loglik: np.ndarray
    loglik_true: np.ndarray
    order_true: np.ndarray
    thetas: list[Tensor]


def restrict_sets(sets: Iterable[Iterable[int]], n_keep: int) -> list[tuple[int, ...]]:
    """Each set restricted to items 0..n_keep-1: the data of the marginal model of those items."""
    return [tuple(i for i in s if i < n_keep) for s in sets]


def recovery_experiment(block: Sequence[Sequence[float]] | np.ndarray, extra: Sequence[int],
                        seeds: Sequence[int], n_samples: int = 500, restarts: int = 3, low: float = -1.0,
                        high: float = 1.0, kl_samples: int = 200_000, **fit_kw) -> Recovery:
    """The paper's synthetic experiment: the block plus m independent items, for m in `extra`.

    For each seed one true θ with max(extra) independent items (base rates U(low, high)) and
    `n_samples` Gillespie sets are drawn; for each m the data keep the block and the first m extra
    items (nested, as in the official code: independent items marginalize exactly). All seeds ×
    `restarts` are fitted at once (`fit_ctmc(**fit_kw)`, random off-diagonal inits). The KL is exact
    where `ordering_distribution` can be, else from `kl_samples` histories.
    """
    seeds = [int(x) for x in seeds]
    extra = sorted({_check_positive_int("extra", int(m), lo=0) for m in extra})
    if not seeds or not extra:
        raise ValueError("pass at least one seed and one number of extra items")
    k = check_theta(block).shape[0]
    n_max = k + extra[-1]
    truths, datasets = [], []
    for seed in seeds:  # one data set per seed
        gen = torch.Generator().manual_seed(seed)
        truth = synthetic_theta(block, extra[-1], low, high, gen)
        truths.append(truth)
        datasets.append(sample(truth, n_samples, gen).sets())
    # every (m, seed) pair is one fit of a model on k + m items; all of them run in one batch
    sizes = [k + m for m in extra for _ in seeds]
    data = prepare_sets([restrict_sets(d, k + m) for m in extra for d in datasets], n_max, n_active=sizes)
    gen = torch.Generator().manual_seed(seeds[0])
    res = fit_ctmc(data.tile(restarts), generator=gen, **fit_kw)
    shape = (len(extra), len(seeds), restarts)
    thetas = res.theta.reshape(*shape, n_max, n_max)
    block_items = list(range(k))
    kl, order = np.zeros(shape), np.zeros(shape)
    for i, j, r in itertools.product(*map(range, shape)):  # a few dozen small exact DPs
        n = k + extra[i]
        th = thetas[i, j, r, :n, :n]
        kl[i, j, r] = ordering_kl(truths[j][:k, :k], th, block_items, n_samples=kl_samples, generator=gen)
        order[i, j, r] = order_probability(th, 0, 1, n_samples=kl_samples, generator=gen)
    truth_fits = torch.stack([truths[j][:n_max, :n_max] for _ in extra for j in range(len(seeds))])
    truth_fits = truth_fits * (data.active[:, :, None] & data.active[:, None, :])
    loglik_true = log_likelihood(truth_fits, data).reshape(len(extra), len(seeds)).numpy()
    order_true = np.array([order_probability(t[:k, :k], 0, 1) for t in truths])
    return Recovery(extra, seeds, kl, order, res.loglik.reshape(shape).numpy(), loglik_true, order_true,
                    [thetas[i, :, :, :k + m, :k + m] for i, m in enumerate(extra)])


# ---------------------------------------------------------------------------------------------
# timing: approximate vs exact gradient as the number of items grows


@dataclass(frozen=True)
class GradientTiming:
    """Seconds per gradient for each number of items n, on `n_sets` random sets of `set_size[i]` items;
    `exact_s` is NaN where the exact DP was not run (sets above its size limit)."""

    n_items: list[int]
    set_size: list[int]
    n_sets: int
    approx_s: list[float]
    exact_s: list[float]


def gradient_timing(n_items: Sequence[int], set_fraction: float = 0.25, n_sets: int = 10,
                    exact_max_size: int = 12, base_rate: float = -2.0, repeats: int = 5,
                    budget_s: float = 0.3, mh_samples: int = 50,
                    generator: torch.Generator | None = None) -> GradientTiming:
    """Time the approximate (Eq. 7: DP below 8 items, MH above) and the exact (DP) gradient.

    For each n, `n_sets` uniformly random sets of round(set_fraction · n) items (at least 1), under
    θ = diag(base_rate): the exact DP costs O(Σ_S 2^|S| n), exponential in the set size, the MH
    estimate O(samples · |S| · n) per set. The exact DP runs only up to `exact_max_size`. Each time is
    the best of up to `repeats` runs, repeated only while they took less than `budget_s` in all (cheap
    calls are repeated, so a hiccup of a loaded machine does not decide them; costly ones run once).
    """
    n_sets = _check_positive_int("n_sets", n_sets)
    repeats = _check_positive_int("repeats", repeats)
    if not (0 < set_fraction <= 1):
        raise ValueError(f"set_fraction must be in (0, 1], got {set_fraction!r}")
    sizes, approx_s, exact_s = [], [], []
    for n in n_items:  # one problem size at a time
        n = _check_positive_int("n_items", n)
        s = max(1, round(set_fraction * n))
        theta = torch.diag(torch.full((n,), float(base_rate), dtype=DTYPE))
        picks = torch.rand(n_sets, n, generator=generator, dtype=DTYPE).argsort(1)[:, :s]
        data = prepare_sets([picks.tolist()], n)
        sizes.append(s)
        approx = functools.partial(approx_gradient, theta, data, n_samples=mh_samples, generator=generator)
        approx_s.append(best_time(approx, repeats, budget_s))
        exact = functools.partial(exact_gradient, theta, data)
        exact_s.append(best_time(exact, repeats, budget_s) if s <= exact_max_size else math.nan)
    return GradientTiming(list(n_items), sizes, n_sets, approx_s, exact_s)
