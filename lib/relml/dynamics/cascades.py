"""Cascade size distributions of the Independent Cascade Model (Burkholz & Quackenbush, AAAI 2021).

The Independent Cascade Model (ICM) on a weighted directed graph: node `i` starts active with
probability `p0[i]`; a node that becomes active gets one chance to activate each out-neighbour `i`,
succeeding with probability `w[j -> i]`. The cascade size is the final number of active nodes. With
one coin per edge the final active set is the set of nodes reachable from the initial ones along
"live" edges, so the order of activations does not matter.

- `tree_distribution` is Subtree Distribution Propagation (SDP, the paper's Sec. "SDP"): exact on a
  tree (or forest). Each node `n` with parent `p` sends three polynomials in `z` (generating functions
  of the number of active nodes in its subtree) up to `p`; with `c` running over the children of `n`,

  .. math::

      W_n = (1 - p_{0,n}) \\prod_c B_c, \\quad L_n = z (1 - p_{0,n}) \\prod_c A^0_c, \\quad
      F_n = z \\prod_c A_c - L_n,

      B_n = W_n + F_n (1 - w_{n\\to p}), \\quad
      A^0_n = W_n (1 - w_{p\\to n}) + F_n (1 - w_{n\\to p}) + L_n w_{p\\to n}, \\quad
      A_n = A^0_n + F_n w_{n\\to p}.

  `B_n`: the parent stays inactive (is not activated through `n`); `A^0_n`: the parent is active but
  not because of `n`; `A_n`: the parent is active. At the root the distribution is `W_r + F_r`.
  Products are pointwise in the FFT domain (`z` at roots of unity). The paper uses one FFT length
  `L >= N + 1` for every node (O(N^2) in all); `fft="adaptive"` (default) evaluates each node's
  polynomials at a power-of-two `L >= subtree size + 1` (at least 64): the same arithmetic on far
  fewer points (O(N log N · depth) instead of O(N^2) on random trees).
  Nodes are processed one tree level at a time, vectorized over the level.
- `tda_distribution` is the Tree Distribution Approximation (TDA) for any graph: loopy belief
  propagation for cavity messages, a maximum spanning tree, each removed in-edge folded into the
  target's initial activation probability, then SDP on the tree.
- `sample_cascade_sizes` is a Monte Carlo sampler of the ICM, vectorized over a batch of trials (a
  loop over propagation rounds only); `enumerate_distribution` is the brute-force exact reference for
  tiny graphs; `total_variation`, `ks_distance` and `expected_sampling_tv` compare distributions.

References: R. Burkholz and J. Quackenbush, "Cascade Size Distributions: Why They Matter and How to
Compute Them Efficiently", AAAI 2021, arXiv:1909.05416; official code rebekka-burkholz/TDA.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import fft as sfft
from scipy import sparse
from scipy.signal import find_peaks
from scipy.sparse import csgraph
from scipy.stats import binom

from relml.runtime import best_time

BP_SWEEPS = 10  # the official code's number of synchronous loopy-BP sweeps
MAX_ENUMERATION_BITS = 22
MIN_FFT = 64  # adaptive FFT lengths start here: fewer, larger vectorized groups per tree level


# ---------------------------------------------------------------------------------------------
# the model


def _probabilities(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} has NaN or infinite entries; pass probabilities in [0, 1]")
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError(f"{name} must be probabilities in [0, 1]; got values in "
                         f"[{values.min():.4g}, {values.max():.4g}]")
    return values


@dataclass(frozen=True)
class Cascade:
    """An Independent Cascade Model: `p0` (n,) initial activation probabilities; directed edges
    `src -> dst` (m,) with activation probabilities `w` (m,). No self-loops, no repeated edges."""

    p0: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    w: np.ndarray

    def __post_init__(self) -> None:
        p0 = _probabilities("p0", self.p0)
        if p0.ndim != 1 or p0.size == 0:
            raise ValueError(f"p0 must have shape (n,) with n >= 1 nodes, got shape {p0.shape}")
        src, dst = np.asarray(self.src), np.asarray(self.dst)
        w = _probabilities("w", self.w)
        if not (src.ndim == dst.ndim == w.ndim == 1 and src.shape == dst.shape == w.shape):
            raise ValueError(f"src, dst and w must all have shape (m,); got {src.shape}, {dst.shape}, "
                             f"{w.shape}")
        if src.size and not (np.issubdtype(src.dtype, np.integer) and np.issubdtype(dst.dtype, np.integer)):
            raise ValueError("src and dst must be integer node indices")
        src, dst = src.astype(np.int64), dst.astype(np.int64)
        n = p0.size
        if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise ValueError(f"edge endpoints must be node indices in [0, {n - 1}]")
        if np.any(src == dst):
            raise ValueError("self-loops have no effect in the ICM; remove them")
        if np.unique(src * n + dst).size != src.size:
            raise ValueError("repeated directed edges; merge them into one edge per (src, dst)")
        for name, value in (("p0", p0), ("src", src), ("dst", dst), ("w", w)):
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return int(self.p0.size)

    @property
    def m(self) -> int:
        return int(self.src.size)

    def edge_keys(self) -> np.ndarray:
        """src * n + dst for every edge (m,): a sortable id of each directed edge."""
        return self.src * self.n + self.dst

    def undirected_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Unique undirected pairs (a, b) with a < b of the skeleton: two arrays (k,)."""
        lo, hi = np.minimum(self.src, self.dst), np.maximum(self.src, self.dst)
        keys = np.unique(lo * self.n + hi)
        return keys // self.n, keys % self.n


def independent_cascade(graph: nx.Graph, p0: float | Sequence[float] | np.ndarray,
                        w: float | str | Sequence[float] | np.ndarray) -> Cascade:
    """The ICM on a networkx graph (nodes relabelled 0..n-1 in `list(graph)` order).

    An undirected graph gets both directions of each edge. `p0`: one probability for all nodes or
    one per node (n,). `w`: one probability for all directed edges, the name of an edge attribute
    holding probabilities, or one value per directed edge in the order of `Cascade.src/dst` (sorted
    by source, then target: the order `independent_cascade(graph, p0, 0.0)` returns). Self-loops are
    dropped.
    """
    n = graph.number_of_nodes()
    if n == 0:
        raise ValueError("the graph has no nodes; an ICM needs at least one node")
    if isinstance(w, str):
        missing = sum(1 for *_, d in graph.edges(data=True) if w not in d)
        if missing:
            raise ValueError(f"edge attribute {w!r} is missing on {missing} edge(s)")
    attribute = w if isinstance(w, str) else None
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=list(graph), weight=attribute, format="coo")
    keep = adjacency.row != adjacency.col
    src, dst = adjacency.row[keep].astype(np.int64), adjacency.col[keep].astype(np.int64)
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    if isinstance(w, str):
        weights = np.asarray(adjacency.data, dtype=float)[keep][order]
    elif np.ndim(w) == 0:
        weights = np.full(src.size, float(w))
    else:
        weights = np.asarray(w, dtype=float)
        if weights.shape != src.shape:
            raise ValueError(f"w must be a number, an edge attribute name or one value per directed edge "
                             f"({src.size}), got shape {weights.shape}")
    p0_arr = np.asarray(p0, dtype=float)
    if p0_arr.ndim == 0:
        p0_arr = np.full(n, float(p0_arr))
    if p0_arr.shape != (n,):
        raise ValueError(f"p0 must be a number or have shape ({n},), got shape {p0_arr.shape}")
    return Cascade(p0_arr, src, dst, weights)


def vaccinate(model: Cascade, nodes: Iterable[int]) -> Cascade:
    """The ICM with `nodes` immunised: never initially active and never activated (w into them 0)."""
    nodes = np.asarray(list(nodes), dtype=np.int64)
    if nodes.size and (nodes.min() < 0 or nodes.max() >= model.n):
        raise ValueError(f"vaccinated nodes must be indices in [0, {model.n - 1}]")
    p0, w = model.p0.copy(), model.w.copy()
    p0[nodes] = 0.0
    w[np.isin(model.dst, nodes)] = 0.0
    return Cascade(p0, model.src, model.dst, w)


# ---------------------------------------------------------------------------------------------
# distances between size distributions


def _pair(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"distributions must be 1-d of equal length, got shapes {p.shape} and {q.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
        raise ValueError("distributions have NaN or infinite entries")
    return p, q


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ½ Σ_k |p_k - q_k| between two size distributions (n+1,)."""
    p, q = _pair(p, q)
    return float(0.5 * np.abs(p - q).sum())


def ks_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance max_k |P(S <= k) - Q(S <= k)| between two distributions (n+1,)."""
    p, q = _pair(p, q)
    return float(np.abs(np.cumsum(p) - np.cumsum(q)).max())


def empirical_distribution(sizes: np.ndarray, n: int) -> np.ndarray:
    """Histogram of sampled cascade sizes (trials,) as a distribution over 0..n: (n+1,)."""
    sizes = np.asarray(sizes)
    if sizes.size == 0:
        raise ValueError("no samples: pass at least one cascade size")
    if sizes.min() < 0 or sizes.max() > n:
        raise ValueError(f"cascade sizes must lie in [0, {n}]")
    return np.bincount(sizes, minlength=n + 1) / sizes.size


def expected_sampling_tv(p: np.ndarray, trials: int | np.ndarray) -> np.ndarray:
    """E[TV(p̂, p)] of the empirical distribution p̂ of `trials` samples from p, exactly.

    Each count is Binomial(t, p_k), whose mean absolute deviation has de Moivre's closed form
    E|X - t p| = 2 ν (1 - p) P(X = ν), ν = ⌊t p⌋ + 1; TV is half the sum over k, divided by t.
    `trials` may be an array; the result has its shape.
    """
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    t = np.asarray(trials, dtype=float)
    if np.any(t < 1):
        raise ValueError("trials must be >= 1")
    tt = t[..., None]
    nu = np.floor(tt * p) + 1
    mad = 2 * nu * (1 - p) * binom.pmf(nu, tt, p)
    return (0.5 * mad.sum(-1) / t).astype(float)


def trials_for_tv(p: np.ndarray, target: float, max_trials: int = 10**12) -> int:
    """The fewest Monte Carlo trials whose expected TV to `p` is at most `target` (bisection)."""
    if not 0 < target < 1:
        raise ValueError(f"target TV must be in (0, 1), got {target}")
    lo, hi = 1, 2
    while expected_sampling_tv(p, hi) > target:
        lo, hi = hi, hi * 2
        if hi > max_trials:
            raise ValueError(f"more than {max_trials} trials needed for TV {target}")
    while hi - lo > max(1, lo // 1000):  # 0.1% resolution is plenty
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if expected_sampling_tv(p, mid) > target else (lo, mid)
    return int(hi)


def expected_sampling_ks(p: np.ndarray, trials: int, draws: int = 200, seed: int = 0) -> float:
    """E[KS(p̂, p)] of the empirical distribution of `trials` samples from p, estimated from `draws`
    simulated multinomial histograms (no closed form; ±2% at the default)."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, None)
    p = p / p.sum()
    counts = np.random.default_rng(seed).multinomial(trials, p, size=draws) / trials
    return float(np.abs(np.cumsum(counts, 1) - np.cumsum(p)).max(1).mean())


def trials_for_ks(p: np.ndarray, target: float) -> int:
    """The fewest Monte Carlo trials (to 2%) whose expected KS distance to `p` is at most `target`."""
    if not 0 < target < 1:
        raise ValueError(f"target KS must be in (0, 1), got {target}")
    lo, hi = 1, 2
    while expected_sampling_ks(p, hi) > target:
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 50):
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if expected_sampling_ks(p, mid) > target else (lo, mid)
    return int(hi)


# ---------------------------------------------------------------------------------------------
# Monte Carlo and brute force


def _csr(model: Cascade) -> tuple[np.ndarray, np.ndarray]:
    """Edges sorted by source and the CSR row pointer (n+1,)."""
    order = np.argsort(model.src, kind="stable")
    indptr = np.zeros(model.n + 1, dtype=np.int64)
    np.cumsum(np.bincount(model.src, minlength=model.n), out=indptr[1:])
    return order, indptr


def _propagate(model: Cascade, active: np.ndarray, live) -> np.ndarray:
    """Spread from `active` (B, n) bool in place, round by round; `live(trial, edge)` -> bool
    decides each edge once, when its source has just become active. Returns `active`."""
    order, indptr = _csr(model)
    outdeg = np.diff(indptr)
    n = model.n
    flat_active = active.reshape(-1)
    claim = np.empty(active.size, dtype=np.int64)  # dedupes hits on the same (trial, node)
    trial, node = np.nonzero(active)
    while trial.size:
        deg = outdeg[node]
        total = int(deg.sum())
        if total == 0:
            break
        first = np.repeat(indptr[node] - (np.cumsum(deg) - deg), deg)
        edge = order[first + np.arange(total)]
        t = np.repeat(trial, deg)
        hit = live(t, edge)
        flat = t[hit] * n + model.dst[edge[hit]]
        flat = flat[~flat_active[flat]]
        ids = np.arange(flat.size)
        claim[flat] = ids
        flat = flat[claim[flat] == ids]
        flat_active[flat] = True
        trial, node = np.divmod(flat, n)
    return active


def sample_cascade_sizes(model: Cascade, trials: int, rng: np.random.Generator | int | None = None,
                         chunk_elements: int = 2**22) -> np.ndarray:
    """Monte Carlo cascade sizes (trials,) of the ICM, all trials of a chunk advanced together.

    Each round, every node that has just become active flips one coin per out-edge (success
    probability w); hits on inactive nodes form the next round's frontier. Chunks of
    `chunk_elements // n` trials bound the memory of the (trials, n) activity table.
    """
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    rng = np.random.default_rng(rng)
    batch = max(1, chunk_elements // model.n)
    sizes = np.empty(trials, dtype=np.int64)
    for start in range(0, trials, batch):
        b = min(batch, trials - start)
        active = rng.random((b, model.n)) < model.p0
        _propagate(model, active, lambda t, e: rng.random(e.size) < model.w[e])
        sizes[start:start + b] = active.sum(1)
    return sizes


def enumerate_distribution(model: Cascade, max_bits: int = MAX_ENUMERATION_BITS) -> np.ndarray:
    """The exact size distribution (n+1,) by enumerating every outcome of the random initial states
    and edge coins (those with probability strictly between 0 and 1): 2^bits outcomes."""
    rand_nodes = np.flatnonzero((model.p0 > 0) & (model.p0 < 1))
    rand_edges = np.flatnonzero((model.w > 0) & (model.w < 1))
    bits = rand_nodes.size + rand_edges.size
    if bits > max_bits:
        raise ValueError(f"{bits} random bits (2^{bits} outcomes) exceed max_bits={max_bits}; "
                         "use a smaller graph or sample_cascade_sizes")
    outcomes = (np.arange(2**bits, dtype=np.int64)[:, None] >> np.arange(bits)) & 1
    probs_of_bits = np.concatenate([model.p0[rand_nodes], model.w[rand_edges]])
    weight = np.prod(np.where(outcomes == 1, probs_of_bits, 1 - probs_of_bits), axis=1)
    active = np.broadcast_to(model.p0 == 1, (2**bits, model.n)).copy()
    active[:, rand_nodes] = outcomes[:, :rand_nodes.size] == 1
    live_table = np.broadcast_to(model.w == 1, (2**bits, model.m)).copy()
    live_table[:, rand_edges] = outcomes[:, rand_nodes.size:] == 1
    _propagate(model, active, lambda t, e: live_table[t, e])
    return np.bincount(active.sum(1), weights=weight, minlength=model.n + 1)


# ---------------------------------------------------------------------------------------------
# Subtree Distribution Propagation (exact on trees)


def _edge_lookup(model: Cascade, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """w[a -> b] for arrays of node pairs, 0 where there is no such edge."""
    query = np.asarray(a, dtype=np.int64) * model.n + np.asarray(b, dtype=np.int64)
    if model.m == 0:
        return np.zeros(query.shape)
    keys = model.edge_keys()
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], query), 0, keys.size - 1)
    return np.where(keys[order][pos] == query, model.w[order[pos]], 0.0)


def _ragged_index(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every entry of rows of the given lengths, laid out one after another."""
    total = int(lengths.sum())
    row = np.repeat(np.arange(lengths.size), lengths)
    col = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return row, col


def _fft_length(size: np.ndarray, n_total: int, fft: str) -> np.ndarray:
    """FFT length per node for polynomials of degree <= size: a power of two >= size + 1
    (at least MIN_FFT, "adaptive"), or one length >= n_total + 1 for all ("full", the paper's choice)."""
    if fft == "full":
        return np.full(size.shape, sfft.next_fast_len(n_total + 1), dtype=np.int64)
    return np.maximum(MIN_FFT, 2 ** np.ceil(np.log2(size + 1))).astype(np.int64)


def _root_forest(model: Cascade) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Root every tree of a forest at a node of maximum degree (as in the official code) and hang the
    roots below a virtual node n that is never active, joined by weight-0 edges.

    Returns parent (n+1,) (parent[n] = n), depth (n+1,), and the weights up[v] = w[v -> parent] and
    down[v] = w[parent -> v] (n+1,), 0 where the edge is absent. Raises if the skeleton has a cycle.
    """
    n = model.n
    a, b = model.undirected_pairs()
    skeleton = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)).tocsr()
    n_comp, comp = csgraph.connected_components(skeleton, directed=False)
    if a.size != n - n_comp:
        raise ValueError(f"the graph is not a forest ({a.size} undirected edges on {n} nodes in "
                         f"{n_comp} components); use tda_distribution for general graphs")
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    by_comp = np.lexsort((-degree, comp))  # within each component, the largest degree first
    roots = by_comp[np.r_[0, np.flatnonzero(np.diff(comp[by_comp])) + 1]]
    rows = np.concatenate([a, np.full(roots.size, n)])
    cols = np.concatenate([b, roots])
    full = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    depth, parent = csgraph.shortest_path(full, unweighted=True, directed=False, indices=n,
                                          return_predecessors=True)
    parent = parent.astype(np.int64)  # int32 from scipy: node * n would overflow
    parent[n] = n
    real_parent = np.minimum(parent[:n], n - 1)  # roots point at n; their weights are zeroed below
    up = np.append(_edge_lookup(model, np.arange(n), real_parent), 0.0)
    down = np.append(_edge_lookup(model, real_parent, np.arange(n)), 0.0)
    up[parent == n], down[parent == n] = 0.0, 0.0
    return parent, depth.astype(np.int64), up, down


def tree_distribution(model: Cascade, fft: str = "adaptive") -> np.ndarray:
    """The exact cascade size distribution P(S = k), k = 0..n, (n+1,) of an ICM whose skeleton is a
    tree or a forest: Subtree Distribution Propagation (see the module docstring for the recursion).

    A forest's trees hang below a virtual root that is never active, so its distribution is the
    product of theirs. `fft`: "adaptive" (default) or "full" (the paper's single FFT length N + 1).
    """
    if fft not in ("adaptive", "full"):
        raise ValueError(f"fft must be 'adaptive' or 'full', got {fft!r}")
    n = model.n
    parent, depth, up, down = _root_forest(model)
    p0 = np.append(model.p0, 0.0)

    levels = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[levels], np.arange(depth.max() + 2))
    size = np.ones(n + 1, dtype=np.int64)
    for d in range(depth.max(), 0, -1):
        lv = levels[bounds[d]:bounds[d + 1]]
        np.add.at(size, parent[lv], size[lv])
    length = _fft_length(size, n, fft)

    # Each level is processed in runs of equal FFT length (`work` order) and stored sorted by its
    # parents' work order (`store` order), so the children of a run are one contiguous block.
    work, store = [np.array([n])], [np.array([n])]
    rank = np.zeros(n + 1, dtype=np.int64)  # position in its level's work order
    for d in range(1, depth.max() + 1):
        lv = levels[bounds[d]:bounds[d + 1]]
        lv = lv[np.argsort(rank[parent[lv]], kind="stable")]
        store.append(lv)
        lv = lv[np.argsort(length[lv], kind="stable")]
        rank[lv] = np.arange(lv.size)
        work.append(lv)

    below = np.empty((3, 0))  # the level below's coefficients, flat in its store order
    for d in range(depth.max(), -1, -1):
        nodes, kids = work[d], (store[d + 1] if d < depth.max() else np.empty(0, dtype=np.int64))
        kid_len = size[kids] + 1
        kid_start = np.cumsum(kid_len) - kid_len
        n_kids = np.bincount(rank[parent[kids]], minlength=nodes.size)
        first_kid = np.cumsum(n_kids) - n_kids
        keep = size[store[d]] + 1  # coefficients 0..subtree size, stored in store order
        out = np.empty((3, int(keep.sum())))
        out_start = np.empty(n + 1, dtype=np.int64)
        out_start[store[d]] = np.cumsum(keep) - keep
        run_ends = np.r_[np.flatnonzero(np.diff(length[nodes])) + 1, nodes.size]
        a = 0
        for b in run_ends:
            v, L = nodes[a:b], int(length[nodes[a]])
            k0, k1 = first_kid[a], first_kid[b - 1] + n_kids[b - 1]
            spectra = np.ones((3, v.size, L // 2 + 1), dtype=complex)
            if k1 > k0:
                r, c = _ragged_index(kid_len[k0:k1])
                padded = np.zeros((3, k1 - k0, L))
                padded[:, r, c] = below[:, kid_start[k0]:kid_start[k0] + r.size]
                has = n_kids[a:b] > 0
                spectra[:, has] = np.multiply.reduceat(sfft.rfft(padded, axis=-1),
                                                       first_kid[a:b][has] - k0, axis=1)
            z = np.exp(-2j * np.pi * np.arange(L // 2 + 1) / L)
            q0 = (1 - p0[v])[:, None]
            wu, wd = up[v][:, None], down[v][:, None]
            never = q0 * spectra[0]                    # W_n: n never active
            late = (z * q0) * spectra[1]               # L_n: only the parent can activate n
            active = z * spectra[2] - late             # F_n: n active without the parent
            if d == 0:
                dist = sfft.irfft(never + active, n=L, axis=-1)[0, :n + 1]
                dist = np.clip(dist, 0.0, None)
                return dist / dist.sum()
            msg = spectra  # reuse: B_n, A0_n, A_n
            msg[0] = never + active * (1 - wu)
            msg[1] = never * (1 - wd) + active * (1 - wu) + late * wd
            msg[2] = msg[1] + active * wu
            coef = sfft.irfft(msg, n=L, axis=-1)
            r, c = _ragged_index(size[v] + 1)
            out[:, np.repeat(out_start[v], size[v] + 1) + c] = coef[:, r, c]
            a = b
        below = out
    raise AssertionError("unreachable: the virtual root is at depth 0")


# ---------------------------------------------------------------------------------------------
# Tree Distribution Approximation (general graphs)


def reverse_edges(model: Cascade) -> np.ndarray:
    """For each edge j -> i the index of the edge i -> j, or -1 where there is none: (m,)."""
    if model.m == 0:
        return np.zeros(0, dtype=np.int64)
    keys = model.edge_keys()
    order = np.argsort(keys)
    query = model.dst * model.n + model.src
    pos = np.clip(np.searchsorted(keys[order], query), 0, keys.size - 1)
    return np.where(keys[order][pos] == query, order[pos], -1)


def bp_messages(model: Cascade, sweeps: int = BP_SWEEPS) -> np.ndarray:
    """Loopy belief-propagation cavity messages (m,): p[j -> i] = P(s_j = 1 ‖ s_i = 0) · w_ji.

    Initialised at p0_j w_ji and updated synchronously `sweeps` times (the official code: 10) by
    p[j -> i] ← (1 − (1 − p0_j) Π_{k -> j, k ≠ i} (1 − p[k -> j])) · w_ji.
    """
    if not isinstance(sweeps, (int, np.integer)) or sweeps < 0:
        raise ValueError(f"sweeps must be a non-negative integer, got {sweeps!r}")
    rev = reverse_edges(model)
    has_rev = rev >= 0
    msg = model.p0[model.src] * model.w
    for _ in range(sweeps):
        stay = 1.0 - msg
        zero = (stay <= 0.0).astype(float)
        logs = np.log(np.where(zero > 0, 1.0, stay))
        # product over in-edges of each node, kept as (count of zero factors, sum of logs)
        zeros_in = np.bincount(model.dst, weights=zero, minlength=model.n)
        logs_in = np.bincount(model.dst, weights=logs, minlength=model.n)
        z_ex = zeros_in[model.src] - np.where(has_rev, zero[rev], 0.0)
        l_ex = logs_in[model.src] - np.where(has_rev, logs[rev], 0.0)
        inactive = (1.0 - model.p0[model.src]) * np.where(z_ex > 0.5, 0.0, np.exp(l_ex))
        msg = (1.0 - inactive) * model.w
    return msg


def activation_probabilities(model: Cascade, sweeps: int = BP_SWEEPS) -> np.ndarray:
    """BP marginals P(s_i = 1) (n,) from the cavity messages (exact on trees)."""
    msg = bp_messages(model, sweeps)
    logs = np.bincount(model.dst, weights=np.log(np.clip(1.0 - msg, 1e-300, None)), minlength=model.n)
    return 1.0 - (1.0 - model.p0) * np.exp(logs)


def spanning_tree_model(model: Cascade, messages: np.ndarray | None = None) -> Cascade:
    """The TDA's tree ICM: a maximum spanning tree (forest) of the undirected skeleton weighted by
    w_ij + w_ji, keeping the original directed weights on its edges, with every removed in-edge
    j -> i folded into p0'_i = 1 − (1 − p0_i) Π_{removed j -> i} (1 − p[j -> i])."""
    messages = bp_messages(model) if messages is None else np.asarray(messages, dtype=float)
    if messages.shape != (model.m,):
        raise ValueError(f"messages must have shape (m,) = ({model.m},), got {messages.shape}")
    n = model.n
    lo, hi = np.minimum(model.src, model.dst), np.maximum(model.src, model.dst)
    pair_keys, pair_of_edge = np.unique(lo * n + hi, return_inverse=True)
    strength = np.bincount(pair_of_edge, weights=model.w, minlength=pair_keys.size)
    # minimum spanning tree of (max + 1 - strength) > 0 is a maximum spanning tree of strength
    cost = strength.max(initial=0.0) + 1.0 - strength
    graph = sparse.coo_matrix((cost, (pair_keys // n, pair_keys % n)), shape=(n, n)).tocsr()
    tree = csgraph.minimum_spanning_tree(graph).tocoo()
    tree_keys = np.minimum(tree.row, tree.col).astype(np.int64) * n + np.maximum(tree.row, tree.col)
    in_tree = np.isin(pair_keys, tree_keys)[pair_of_edge]
    removed = ~in_tree
    logs = np.bincount(model.dst[removed], weights=np.log(np.clip(1.0 - messages[removed], 1e-300, None)),
                       minlength=n)
    p0 = 1.0 - (1.0 - model.p0) * np.exp(logs)
    return Cascade(np.clip(p0, 0.0, 1.0), model.src[in_tree], model.dst[in_tree], model.w[in_tree])


def tda_distribution(model: Cascade, sweeps: int = BP_SWEEPS, fft: str = "adaptive") -> np.ndarray:
    """The Tree Distribution Approximation (n+1,) of the cascade size distribution of any graph.

    BP messages, the maximum spanning tree with folded-in removed edges, SDP on it; finally, as in
    the official code, P(S = 0) is set to its exact value Π_i (1 − p0_i) and the rest rescaled.
    Exact on trees and forests.
    """
    tree = spanning_tree_model(model, bp_messages(model, sweeps))
    dist = tree_distribution(tree, fft=fft)
    none = float(np.prod(1.0 - model.p0))
    rest = dist[1:].sum()
    if rest > 0:
        dist = np.concatenate([[none], dist[1:] * (1.0 - none) / rest])
    return dist


# ---------------------------------------------------------------------------------------------
# reading a distribution


def mean_size(dist: np.ndarray) -> float:
    """E[S] of a size distribution (n+1,)."""
    dist = np.asarray(dist, dtype=float)
    return float(np.arange(dist.size) @ dist)


def tail_probability(dist: np.ndarray, threshold: int) -> float:
    """P(S > threshold) of a size distribution (n+1,)."""
    dist = np.asarray(dist, dtype=float)
    if not 0 <= threshold < dist.size:
        raise ValueError(f"threshold must be in [0, {dist.size - 1}], got {threshold}")
    return float(dist[threshold + 1:].sum())


def coarsen(dist: np.ndarray, bins: int) -> tuple[np.ndarray, int]:
    """The distribution (n+1,) summed over `bins` equal ranges of sizes: (bins,) and the range width."""
    dist = np.asarray(dist, dtype=float)
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    width = -(-dist.size // bins)
    padded = np.zeros(width * bins)
    padded[:dist.size] = dist
    return padded.reshape(bins, width).sum(1), width


def modes(dist: np.ndarray, prominence: float = 0.1, bins: int | None = None) -> np.ndarray:
    """Sizes at which the distribution (n+1,) peaks with a prominence of at least `prominence` times
    its maximum (end points count): two or more for a multimodal distribution. With `bins`, peaks are
    found on the coarsened distribution (so a broad bump counts as much as a spike) and reported at
    the most likely size of their range."""
    dist = np.asarray(dist, dtype=float)
    if dist.ndim != 1 or dist.size < 2:
        raise ValueError("need a 1-d distribution with at least 2 entries")
    coarse, width = coarsen(dist, bins) if bins else (dist, 1)
    peaks, _ = find_peaks(np.concatenate([[0.0], coarse, [0.0]]), prominence=prominence * coarse.max())
    peaks = peaks - 1
    if width == 1:
        return peaks
    return np.array([p * width + int(np.argmax(dist[p * width:(p + 1) * width])) for p in peaks])


def valley_ratio(dist: np.ndarray, bins: int | None = None) -> float:
    """P(S near E[S]) over the smaller of the two highest peaks that flank it (1.0 if the mean is not
    between two peaks): small values mean the mean sits in a low-probability valley. With `bins`,
    probabilities of the coarsened distribution (the range holding the mean against peak ranges)."""
    dist = np.asarray(dist, dtype=float)
    coarse, width = coarsen(dist, bins) if bins else (dist, 1)
    at = int(round(mean_size(dist))) // width
    left, right = coarse[:at + 1].max(), coarse[at:].max()
    peak = min(left, right)
    if peak <= 0 or coarse[at] >= peak:
        return 1.0
    return float(coarse[at] / peak)


def vaccination_effects(model: Cascade, candidates: Sequence[int], threshold: int,
                        sweeps: int = BP_SWEEPS) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate node, E[S] and P(S > threshold) after vaccinating it (TDA; exact on
    trees): two arrays (k,)."""
    means, tails = [], []
    for v in candidates:
        dist = tda_distribution(vaccinate(model, [int(v)]), sweeps)
        means.append(mean_size(dist))
        tails.append(tail_probability(dist, threshold))
    return np.array(means), np.array(tails)


# ---------------------------------------------------------------------------------------------
# graphs


def random_tree(n: int, seed: int | None = None) -> nx.Graph:
    """A uniformly random labelled tree on n nodes (Prüfer sequence)."""
    if n < 1:
        raise ValueError(f"a tree needs n >= 1 nodes, got {n}")
    if n == 1:
        return nx.empty_graph(1)
    return nx.random_labeled_tree(n, seed=seed)


def configuration_graph(n: int, mean_degree: float, gamma: float = 3.0, seed: int | None = None
                        ) -> nx.Graph:
    """The largest component of a simple configuration-model graph with i.i.d. degrees from
    P(k) ∝ min(1, (k / k0)^-γ), k = 1..n-1: flat up to k0, a power-law tail beyond; k0 is chosen so
    that the mean degree is `mean_degree` (the paper's locally tree-like scale-free graphs, γ = 3)."""
    if n < 3:
        raise ValueError(f"need n >= 3 nodes, got {n}")
    k = np.arange(1, n, dtype=float)
    if not 1.0 < mean_degree < (n - 1) / 2:
        raise ValueError(f"mean_degree must be in (1, {(n - 1) / 2}), got {mean_degree}")

    def probs(k0: float) -> np.ndarray:
        p = np.minimum(1.0, (k / k0) ** -gamma)
        return p / p.sum()

    lo, hi = 1e-3, float(n)
    for _ in range(100):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if probs(mid) @ k < mean_degree else (lo, mid)
    rng = np.random.default_rng(seed)
    degrees = rng.choice(k.astype(np.int64), size=n, p=probs(hi))
    if degrees.sum() % 2:
        degrees[rng.integers(n)] += 1
    multi = nx.configuration_model(degrees.tolist(), seed=int(rng.integers(2**31)))
    graph = nx.Graph(multi)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    giant = max(nx.connected_components(graph), key=len)
    return nx.convert_node_labels_to_integers(graph.subgraph(giant).copy())


BUNDLED_GRAPHS = ("florentine", "karate", "davis", "les_miserables")


def bundled_graph(name: str) -> nx.Graph:
    """A small real network bundled with networkx, unweighted and relabelled 0..n-1."""
    makers = {"florentine": nx.florentine_families_graph, "karate": nx.karate_club_graph,
              "davis": nx.davis_southern_women_graph, "les_miserables": nx.les_miserables_graph}
    if name not in makers:
        raise ValueError(f"unknown graph {name!r}; use one of {', '.join(BUNDLED_GRAPHS)}")
    return nx.convert_node_labels_to_integers(nx.Graph(makers[name]().edges()))


def loopiness(graph: nx.Graph) -> float:
    """Share of edges that a spanning forest must drop: (|E| − |V| + #components) / |E|."""
    e = graph.number_of_edges()
    if e == 0:
        return 0.0
    return (e - graph.number_of_nodes() + nx.number_connected_components(graph)) / e


def scale_free_tree(n: int, seed: int | None = None) -> nx.Graph:
    """A Barabási–Albert tree (one edge per new node): a tree with hubs."""
    if n < 2:
        raise ValueError(f"need n >= 2 nodes, got {n}")
    return nx.barabasi_albert_graph(n, 1, seed=seed)


def tree_with_extra_edges(n: int, extra_fraction: float, seed: int | None = None) -> nx.Graph:
    """A uniformly random tree on n nodes plus round(extra_fraction (n − 1)) random extra edges: a
    locally tree-like graph whose few cycles are long, with a chosen share of loop-closing edges."""
    if not 0 <= extra_fraction <= 1:
        raise ValueError(f"extra_fraction must be in [0, 1], got {extra_fraction}")
    rng = np.random.default_rng(seed)
    graph = random_tree(n, seed=int(rng.integers(2**31)))
    target = n - 1 + int(round(extra_fraction * (n - 1)))
    if target > n * (n - 1) // 2:
        raise ValueError(f"{target} edges do not fit a simple graph on {n} nodes")
    while graph.number_of_edges() < target:
        a, b = rng.integers(n, size=2)
        if a != b:
            graph.add_edge(int(a), int(b))  # an existing edge is a no-op: draw again
    return graph


def two_community_tree(n_seeded: int, n_far: int, seed: int | None = None) -> tuple[nx.Graph, np.ndarray]:
    """Two scale-free trees joined by one edge between random nodes: a small community where
    cascades usually start and a larger one that is reached only across the bridge.
    Returns the graph (nodes 0..n_seeded-1 are the first community) and that mask (n,)."""
    rng = np.random.default_rng(seed)
    first = scale_free_tree(n_seeded, seed=int(rng.integers(2**31)))
    second = scale_free_tree(n_far, seed=int(rng.integers(2**31)))
    graph = nx.disjoint_union(first, second)
    graph.add_edge(int(rng.integers(n_seeded)), n_seeded + int(rng.integers(n_far)))
    return graph, np.arange(n_seeded + n_far) < n_seeded


# ---------------------------------------------------------------------------------------------
# experiments (the notebook's and the benchmark's measurements)


def random_tree_model(n: int, seed: int | None = None) -> Cascade:
    """An ICM on a random tree with random p0 ~ U(0.05, 0.6) and asymmetric w ~ U(0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    graph = random_tree(n, seed=int(rng.integers(2**31)))
    return independent_cascade(graph, rng.uniform(0.05, 0.6, n),
                               rng.uniform(0.1, 0.9, 2 * graph.number_of_edges()))


@dataclass(frozen=True)
class SpeedAtAccuracy:
    """Exact message passing against Monte Carlo at a target total-variation accuracy."""

    n: int
    target_tv: float
    sdp_seconds: float          # one SDP run (best of a few)
    trials_needed: int          # MC trials whose expected TV to the exact distribution is target_tv
    mc_seconds_per_trial: float  # measured on `probe_trials` trials
    probe_trials: int
    probe_tv: float             # TV of that probe run to the exact distribution
    probe_expected_tv: float    # and its expectation
    exact: np.ndarray           # SDP's distribution (n+1,)
    probe: np.ndarray           # the probe run's empirical distribution (n+1,)

    @property
    def mc_seconds(self) -> float:
        return self.trials_needed * self.mc_seconds_per_trial

    @property
    def ratio(self) -> float:
        return self.mc_seconds / self.sdp_seconds


def speed_at_accuracy(model: Cascade, target_tv: float, probe_trials: int,
                      rng: np.random.Generator | int | None = None, repeats: int = 3) -> SpeedAtAccuracy:
    """Time SDP on a tree and Monte Carlo at the trial count that reaches `target_tv` in
    expectation (computed exactly from SDP's distribution); MC's cost per trial is measured on
    `probe_trials` trials, whose TV is checked against its expectation."""
    dist = tree_distribution(model)
    sdp = best_time(lambda: tree_distribution(model), repeats)
    rng = np.random.default_rng(rng)
    start = time.perf_counter()
    sizes = sample_cascade_sizes(model, probe_trials, rng)
    per_trial = (time.perf_counter() - start) / probe_trials
    probe = empirical_distribution(sizes, model.n)
    return SpeedAtAccuracy(model.n, target_tv, sdp, trials_for_tv(dist, target_tv), per_trial,
                           probe_trials, total_variation(probe, dist),
                           float(expected_sampling_tv(dist, probe_trials)), dist, probe)


@dataclass(frozen=True)
class Accuracy:
    """TDA against a Monte Carlo reference on one graph."""

    name: str
    n: int
    loopiness: float
    tv: float         # TV(TDA, MC reference)
    ks: float
    noise_tv: float   # expected TV of the MC reference itself (its sampling error)
    tda: np.ndarray
    reference: np.ndarray


def tda_accuracy(name: str, graph: nx.Graph, p0: float, w: float, trials: int,
                 rng: np.random.Generator | int | None = None) -> Accuracy:
    """TDA's distance to a `trials`-run Monte Carlo reference on `graph` with uniform p0 and w."""
    model = independent_cascade(graph, p0, w)
    tda = tda_distribution(model)
    reference = empirical_distribution(sample_cascade_sizes(model, trials, rng), model.n)
    return Accuracy(name, model.n, loopiness(graph), total_variation(tda, reference),
                    ks_distance(tda, reference), float(expected_sampling_tv(reference, trials)), tda,
                    reference)


@dataclass(frozen=True)
class VaccinationChoice:
    """The vaccination target chosen by the mean and by the tail P(S > threshold)."""

    candidates: np.ndarray
    means: np.ndarray       # E[S] after vaccinating each candidate
    tails: np.ndarray       # P(S > threshold) after vaccinating each candidate
    threshold: int

    @property
    def by_mean(self) -> int:
        return int(np.argmin(self.means))

    @property
    def by_tail(self) -> int:
        return int(np.argmin(self.tails))

    @property
    def tail_ratio(self) -> float:
        """P(S > threshold) of the mean's choice over that of the tail's choice (>= 1)."""
        return float(self.tails[self.by_mean] / max(self.tails[self.by_tail], 1e-300))


def vaccination_choice(model: Cascade, threshold: int, n_candidates: int = 20) -> VaccinationChoice:
    """Vaccinate one of the `n_candidates` highest-degree nodes: compare the best by E[S] with the
    best by P(S > threshold), both read off the full size distribution."""
    degree = np.bincount(model.src, minlength=model.n) + np.bincount(model.dst, minlength=model.n)
    candidates = np.argsort(-degree, kind="stable")[:n_candidates]
    means, tails = vaccination_effects(model, candidates, threshold)
    return VaccinationChoice(candidates, means, tails, threshold)
