"""An O(n log n) treecode for dtSNE's repulsion in 2-D: a vectorized Barnes–Hut on a grid hierarchy.

The repulsive sums of `relml.kernels.dtsne_triton` (z_i = Σ_j w_ij, f_i = Σ_j γ_ij w_ij² (y_i − y_j),
w_ij = 1/(1 + γ_ij‖y_i − y_j‖²), γ_ij = (2/(u_i+u_j))^{2α}) are split as in the fast multipole
method: on each level ℓ = 1, 2, … of a quadtree of square cells, a point interacts with the 27 cells
of its *interaction list* (children of its parent's 3×3 neighbourhood, minus its own 3×3
neighbourhood; a cell is at least one cell width away, opening angle ≲ 0.5), each summarised by its
point count, centroid, position covariance, mean scale ū, variance of u and covariance of u with
position: the cell average of the kernel is expanded to second order in the spread of position
and scale (Barnes–Hut's monopole, the quadrupole term, and the terms in u, which matter where
points of different density share a cell). A point stops descending where the 3×3 neighbourhood of
its cell holds at most `leaf_size` points, which it then meets exactly, or where its cells are much
narrower than its kernel, so that the neighbourhood too is smooth enough for expansions (each
point has its own depth, so dense and sparse regions cost alike). Over the levels these sets
partition all pairs, so every pair is counted once. Everything is batched torch (sorting, lookup
tables, segment sums, index_add): no Python loop over points or cells. Measured error: ~1% of the
repulsive force (tests/embed/test_treecode.py).

The kernel depends on both points' density scales, so unlike t-SNE's it is no function of y_i − y_j
alone, and FFT interpolation (FIt-SNE, openTSNE) does not apply directly; worse, the narrowest
kernel (the densest points) would set the grid spacing across an embedding that dtSNE makes wide.
"""

from __future__ import annotations

import torch
from torch import Tensor

from relml.kernels.dtsne_triton import pair_gamma

__all__ = ["density_repulsion_tree"]

_MARGIN = 3  # queried cells lie at most 3 cells outside the grid: keys with a margin need no bounds check
_DENSE_KEYS = 1 << 21  # up to this many keys a dense lookup table beats a binary search


def _offsets() -> list[list[tuple[int, int]]]:
    """Cell offsets by the parity (x odd?, y odd?) of a cell: its interaction list (27: the children
    of its parent's 3×3 neighbourhood outside its own 3×3 neighbourhood), then that neighbourhood (9)."""
    tables = []
    for px in (0, 1):
        for py in (0, 1):
            rx, ry = range(-2 - px, 4 - px), range(-2 - py, 4 - py)  # 6 children per axis
            far = [(a, b) for a in rx for b in ry if max(abs(a), abs(b)) > 1]
            tables.append(far + [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    return tables


_OFFSETS = _offsets()


class _Level:
    """One level of the grid: keys of the occupied cells (sorted), their points and summaries."""

    def __init__(self, t: Tensor, y: Tensor, u: Tensor, level: int) -> None:
        side = 1 << level
        self.stride = side + 2 * _MARGIN
        cell = (t * side).long().clamp_(0, side - 1)
        self.key = (cell[:, 0] + _MARGIN) * self.stride + (cell[:, 1] + _MARGIN)  # (n,)
        self.parity = (cell[:, 0] & 1) * 2 + (cell[:, 1] & 1)
        self.order = torch.argsort(self.key)
        self.keys, self.counts = torch.unique_consecutive(self.key[self.order], return_counts=True)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        ys, us = y.index_select(0, self.order), u.index_select(0, self.order)
        mass = self.counts.to(y.dtype)
        mean = torch.segment_reduce(torch.cat([ys, us[:, None]], 1), "sum", lengths=self.counts, axis=0)
        mean /= mass[:, None]
        dev = torch.cat([ys, us[:, None]], 1) - torch.repeat_interleave(mean, self.counts, 0,
                                                                         output_size=ys.shape[0])
        dx, dy, du = dev.unbind(1)
        moments = torch.segment_reduce(torch.stack([dx * dx, dx * dy, dy * dy, du * du, du * dx, du * dy], 1),
                                       "sum", lengths=self.counts, axis=0) / mass[:, None]
        # one column per cell: mass, centroid (2), mean u, covariance xx/xy/yy | var u, cov(u, position) (2)
        self.stats = torch.cat([mass[:, None], mean, moments[:, :3]], 1).T.contiguous()  # (7, K)
        self.u_stats = moments[:, 3:].T.contiguous()  # (3, K)
        self.table = None
        if self.stride**2 <= _DENSE_KEYS:
            self.table = torch.full((self.stride**2,), -1, dtype=torch.int64, device=y.device)
            self.table[self.keys] = torch.arange(self.keys.shape[0], device=y.device)

    def key_offsets(self, device: torch.device) -> Tensor:
        """(4, 36) key differences of the offsets in `_OFFSETS`."""
        return torch.tensor([[a * self.stride + b for a, b in row] for row in _OFFSETS], device=device)

    def find(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """Row of each queried key in the tables (0 if absent), and whether that cell is occupied."""
        if self.table is not None:
            pos = self.table[query]
            found = pos >= 0
            return pos.clamp_(min=0), found
        pos = torch.searchsorted(self.keys, query).clamp_(max=self.keys.shape[0] - 1)
        return pos, self.keys[pos] == query


def _far_field(y0: Tensor, y1: Tensor, u: Tensor, grid: _Level, cells: Tensor, alpha: float,
               u_tol: float = 1e-3) -> tuple[Tensor, Tensor, Tensor]:
    """Cell averages of w and of γ w² (y − y_j), to second order in the spread of position and scale
    within each cell, for targets at (y0, y1) with scales u (N,) against the cells `cells` (N,) of
    `grid`. Returns z, f0, f1 (N,).

    With r = y − ȳ, v = ū, g(v) = (2/(u + v))^{2α}, w = 1/(1 + g|r|²), a cell average is
    E φ(r − δ, v + ε) ≈ φ + ½ tr(∇²_r φ Σ) + ½ ∂²_v φ Var(u) − ∂_v∇_r φ · cov(u, position);
    the terms in u are evaluated only for cells whose relative variance of u exceeds `u_tol`.
    """
    m, c0, c1, uc, sxx, sxy, syy = grid.stats.index_select(1, cells).unbind(0)
    r0, r1 = y0 - c0, y1 - c1
    s = r0 * r0 + r1 * r1
    g = pair_gamma(u, uc, alpha)
    w = (g * s).add_(1.0).reciprocal_()
    w2 = w * w
    gw2 = g * w2
    g2w3 = gw2 * g * w
    tr = sxx + syy
    sr0, sr1 = sxx * r0 + sxy * r1, sxy * r0 + syy * r1  # Σ r
    rsr = r0 * sr0 + r1 * sr1  # rᵀ Σ r
    z = m * (w - gw2 * tr + 4.0 * g2w3 * rsr)
    radial = m * (gw2 + 12.0 * g2w3 * g * w * rsr - 2.0 * g2w3 * tr)
    mg = 4.0 * m * g2w3
    f0, f1 = radial * r0 - mg * sr0, radial * r1 - mg * sr1
    vu_all = grid.u_stats[0].index_select(0, cells)
    mixed = (vu_all > u_tol * uc * uc).nonzero().squeeze(1)  # cells whose points differ in scale
    if mixed.numel():
        pick = lambda t: t.index_select(0, mixed)  # noqa: E731
        m, r0, r1, s, w, w2, g, vu = map(pick, (m, r0, r1, s, w, w2, g, vu_all))
        su = pick(u) + pick(uc)
        cu0, cu1 = grid.u_stats[1:].index_select(1, cells.index_select(0, mixed)).unbind(0)
        g1 = -2.0 * alpha * g / su  # dg/dv
        g2 = 2.0 * alpha * (2.0 * alpha + 1.0) * g / (su * su)  # d²g/dv²
        rc = r0 * cu0 + r1 * cu1  # r · cov(u, position)
        two_w = 2.0 * w - 1.0
        dz = 0.5 * vu * (2.0 * g1 * g1 * s * s * w2 * w - g2 * s * w2) + 2.0 * g1 * w2 * two_w * rc
        rad = 0.5 * vu * (g2 * w2 * two_w - g1 * g1 * s * w2 * (6.0 * w2 - 2.0 * w))
        rad = m * (rad + 4.0 * g1 * g * w2 * w * (3.0 * w - 1.0) * rc)
        along = m * g1 * two_w * w2
        z = z.index_add(0, mixed, m * dz)
        f0 = f0.index_add(0, mixed, rad * r0 - along * cu0)
        f1 = f1.index_add(0, mixed, rad * r1 - along * cu1)
    return z, f0, f1


def density_repulsion_tree(y: Tensor, u: Tensor, alpha: float = 1.0, leaf_size: int = 64,
                           smooth: float = 0.25, max_depth: int = 20) -> tuple[Tensor, Tensor]:
    """Treecode approximation of the repulsive sums: y (n, 2), u (n,) → z (n,), f (n, 2).

    Each point descends the levels until the 3×3 neighbourhood of its cell holds at most
    `leaf_size` points, whose pairs it then sums exactly, or until its cells are narrower than
    `smooth` times its narrowest kernel width (1/√γ against the densest point), where the kernel is
    smooth across a cell and the 3×3 neighbourhood is summed by cell expansions too.
    """
    if y.dim() != 2 or y.shape[1] != 2 or u.shape != (y.shape[0],):
        raise ValueError(f"need y of shape (n, 2) and u of shape (n,), got {tuple(y.shape)}, "
                         f"{tuple(u.shape)}")
    if leaf_size < 1 or not 1 <= max_depth <= 30:
        raise ValueError(f"need leaf_size >= 1 and max_depth in [1, 30], got {leaf_size}, {max_depth}")
    n, dev, dt = y.shape[0], y.device, y.dtype
    lo = y.min(0).values
    span = float((y.max(0).values - lo).max().clamp_min(torch.finfo(dt).tiny))
    t = (y - lo) / (span * (1 + 1e-6))  # the unit square
    y0, y1 = y[:, 0].contiguous(), y[:, 1].contiguous()
    z = torch.zeros(n, dtype=dt, device=dev)
    f0, f1 = torch.zeros_like(z), torch.zeros_like(z)

    def expand(targets: Tensor, pos: Tensor, found: Tensor, grid: _Level) -> None:
        """Add the expansions of the found cells pos (A, k) to the targets (A,)."""
        flat = found.flatten().nonzero().squeeze(1)
        tgt = targets.index_select(0, flat // pos.shape[1])
        dz, d0, d1 = _far_field(y0.index_select(0, tgt), y1.index_select(0, tgt), u.index_select(0, tgt),
                                grid, pos.flatten().index_select(0, flat), alpha)
        z.index_add_(0, tgt, dz)
        f0.index_add_(0, tgt, d0)
        f1.index_add_(0, tgt, d1)

    width = pair_gamma(u, u.min(), alpha).rsqrt()  # each point's narrowest kernel width
    active = torch.arange(n, device=dev)
    above = torch.full((n,), n, dtype=torch.int64, device=dev)  # neighbourhood counts one level up
    pair_i, pair_j = [], []
    for level in range(1, max_depth + 1):  # levels, not points: each step is batched over points
        grid = _Level(t, y, u, level)
        koff = grid.key_offsets(dev)
        key, parity = grid.key.index_select(0, active), grid.parity.index_select(0, active)
        pos, found = grid.find(key[:, None] + koff[parity, 27:])  # the 3×3 neighbourhood (A, 9)
        cnt = torch.where(found, grid.counts[pos], 0)
        near = cnt.sum(1)
        # the interaction list is the parent's neighbourhood minus one's own: empty if counts agree
        busy = (near < above).nonzero().squeeze(1)
        if busy.numel():
            query = key.index_select(0, busy)[:, None] + koff[parity.index_select(0, busy), :27]
            fpos, ffound = grid.find(query)
            expand(active.index_select(0, busy), fpos, ffound, grid)
        # where cells are narrow against the kernel, the whole neighbourhood is taken by expansions
        flat = (near > leaf_size) & (span / (1 << level) <= smooth * width.index_select(0, active))
        if flat.any():
            expand(active[flat], pos[flat], found[flat], grid)
            keep = ~flat
            active, near, cnt, pos = active[keep], near[keep], cnt[keep], pos[keep]
        # where the neighbourhood holds few points, its pairs are summed exactly
        done = (near <= leaf_size) | (level == max_depth)
        if done.any():
            cnt_d, first = cnt[done].flatten(), grid.starts[pos[done]].flatten()
            seg = torch.repeat_interleave(torch.arange(cnt_d.shape[0], device=dev), cnt_d)
            within = torch.arange(seg.shape[0], device=dev) - (torch.cumsum(cnt_d, 0) - cnt_d)[seg]
            pair_i.append(active[done][seg // 9])
            pair_j.append(grid.order[first[seg] + within])
        active, above = active[~done], near[~done]
        if active.numel() == 0:
            break
    if pair_i:
        i, j = torch.cat(pair_i), torch.cat(pair_j)
        d0, d1 = y0.index_select(0, i) - y0.index_select(0, j), y1.index_select(0, i) - y1.index_select(0, j)
        gamma = pair_gamma(u.index_select(0, i), u.index_select(0, j), alpha)
        w = (gamma * (d0 * d0 + d1 * d1)).add_(1.0).reciprocal_()
        c = gamma * w * w
        z.index_add_(0, i, w)
        f0.index_add_(0, i, c * d0)
        f1.index_add_(0, i, c * d1)
    z -= 1.0  # each point met itself once in its own cell (exactly or in its expansion): w_ii = 1
    return z, torch.stack([f0, f1], 1)
