"""dtSNE's repulsive sums: a fused Triton kernel and the chunked torch reference it is tested against.

dtSNE (Fischer, Burkholz & Vreeken, arXiv 2301.13732) replaces t-SNE's Cauchy kernel by a
density-scaled one, w_ij = 1 / (1 + γ_ij ‖y_i − y_j‖²), with

    γ_ij = (β_ij / β_ref)^α,   β_ij = 4 β_i β_j / (√β_i + √β_j)²  (i.e. σ_ij = (σ_i + σ_j) / 2).

With the per-point scale u_i = √(β_ref / β_i) this is γ_ij = (2 / (u_i + u_j))^(2α), so a pass over
the pairs needs only y and u. The hot path of the gradient is, for every target i and a set of
sources S (all points for the exact gradient, a uniform sample for the approximate one),

    z_i = Σ_{j∈S, j≠i} w_ij                       (the normaliser Z = Σ_i z_i)
    f_i = Σ_{j∈S, j≠i} γ_ij w_ij² (y_i − y_j)     (the repulsive force, before the 1/Z)

`density_repulsion_torch` computes both in row chunks (bounded memory, any device, any dimension)
and is the reference; `density_repulsion_symmetric` visits each unordered pair once (the CPU's
all-pairs path); `density_repulsion_triton` fuses everything into one pass over tiles (2-D, CUDA,
or the CPU with TRITON_INTERPRET=1 for testing); `density_repulsion` picks one.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import torch
from torch import Tensor

# triton is optional and imported on first use: Triton fixes interpreter-or-compiler mode (the
# environment variable TRITON_INTERPRET) when it is imported, so tests can still choose it.
triton: Any = None
tl: Any = None

__all__ = ["density_repulsion", "density_repulsion_symmetric", "density_repulsion_torch",
           "density_repulsion_triton", "pair_gamma", "triton_available"]


def pair_gamma(u_i: Tensor, u_j: Tensor, alpha: float = 1.0) -> Tensor:
    """γ_ij = (2 / (u_i + u_j))^(2α) for broadcastable per-point scales u = √(β_ref / β)."""
    h = (u_i + u_j).reciprocal().mul_(2.0)
    return h.square_() if alpha == 1.0 else h.pow_(2.0 * alpha)


def _check(y: Tensor, u: Tensor, src: Tensor | None) -> None:
    if y.dim() != 2 or u.shape != (y.shape[0],):
        raise ValueError(f"need y of shape (n, d) and u of shape (n,), got {tuple(y.shape)} and "
                         f"{tuple(u.shape)}")
    if src is not None and (src.dim() != 1 or src.dtype not in (torch.int32, torch.int64)):
        raise ValueError("src must be a 1-D integer tensor of source indices")


def density_repulsion_torch(y: Tensor, u: Tensor, alpha: float = 1.0, src: Tensor | None = None,
                            chunk_pairs: int = 1 << 17) -> tuple[Tensor, Tensor]:
    """Reference repulsive sums (module docstring) in row chunks of at most `chunk_pairs` pairs.

    y: (n, d) embedding, u: (n,) per-point scales, src: (m,) distinct source indices (default: all
    n). Returns z (n,) and f (n, d), in y's dtype. Small chunks stay in cache: memory is O(chunk).
    """
    _check(y, u, src)
    n, dim = y.shape
    if src is None:
        ys, us = y, u
        self_hits = torch.ones(n, dtype=y.dtype, device=y.device)
    else:
        src = src.to(y.device).long()
        ys, us = y[src], u[src]
        self_hits = torch.zeros(n, dtype=y.dtype, device=y.device).index_fill_(0, src, 1.0)
    rows = max(1, chunk_pairs // max(1, ys.shape[0]))
    z = torch.empty(n, dtype=y.dtype, device=y.device)
    f = torch.empty_like(y)
    for a in range(0, n, rows):  # memory-bounded row chunks, vectorized inside
        yb, ub = y[a:a + rows], u[a:a + rows]
        d2 = (yb[:, 0, None] - ys[None, :, 0]).square_()
        for d in range(1, dim):
            d2 += (yb[:, d, None] - ys[None, :, d]).square_()
        gamma = pair_gamma(ub[:, None], us[None, :], alpha)
        w = (gamma * d2).add_(1.0).reciprocal_()
        # the pair (i, i) has w = 1 and no force: subtract it instead of masking
        z[a:a + rows] = w.sum(1) - self_hits[a:a + rows]
        c = w.square_().mul_(gamma)
        f[a:a + rows] = yb * c.sum(1, keepdim=True) - c @ ys
    return z, f


def density_repulsion_symmetric(y: Tensor, u: Tensor, alpha: float = 1.0, chunk_pairs: int = 1 << 17
                                ) -> tuple[Tensor, Tensor]:
    """All-pairs repulsive sums evaluating each unordered pair once: half the reference's work.

    Row block [a, b) meets columns [a, n): the square [a, b)² feeds its rows only (it holds both
    orders of each pair), the rest feeds its rows and, transposed, the rows [b, n).
    """
    _check(y, u, None)
    n, dim = y.shape
    rows = max(1, min(n, chunk_pairs // max(1, n)))
    z = torch.zeros(n, dtype=y.dtype, device=y.device)
    f = torch.zeros_like(y)
    for a in range(0, n, rows):
        b = min(n, a + rows)
        yb, yc = y[a:b], y[a:]
        d2 = (yb[:, 0, None] - yc[None, :, 0]).square_()
        for d in range(1, dim):
            d2 += (yb[:, d, None] - yc[None, :, d]).square_()
        gamma = pair_gamma(u[a:b, None], u[None, a:], alpha)
        w = (gamma * d2).add_(1.0).reciprocal_()
        z[a:b] += w.sum(1) - 1.0  # minus the pair (i, i), inside the square
        z[b:] += w[:, b - a:].sum(0)
        c = w.square_().mul_(gamma)
        f[a:b] += yb * c.sum(1, keepdim=True) - c @ yc
        right = c[:, b - a:]
        f[b:] += y[b:] * right.sum(0)[:, None] - right.T @ yb
    return z, f


def _repulsion_kernel(y_ptr, u_ptr, ys_ptr, us_ptr, src_ptr, z_ptr, f_ptr, n, m, two_alpha,
                      ALPHA_ONE: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr):
    """One program: BLOCK_I targets against all m sources, in tiles of BLOCK_J (2-D embedding)."""
    pid = tl.program_id(0)
    offs_i = pid * BLOCK_I + tl.arange(0, BLOCK_I)
    mask_i = offs_i < n
    yi0 = tl.load(y_ptr + offs_i * 2, mask=mask_i, other=0.0)
    yi1 = tl.load(y_ptr + offs_i * 2 + 1, mask=mask_i, other=0.0)
    ui = tl.load(u_ptr + offs_i, mask=mask_i, other=1.0)
    acc_z = tl.zeros((BLOCK_I,), dtype=tl.float32)
    acc_f0 = tl.zeros((BLOCK_I,), dtype=tl.float32)
    acc_f1 = tl.zeros((BLOCK_I,), dtype=tl.float32)
    for start in range(0, m, BLOCK_J):
        offs_j = start + tl.arange(0, BLOCK_J)
        mask_j = offs_j < m
        yj0 = tl.load(ys_ptr + offs_j * 2, mask=mask_j, other=0.0)
        yj1 = tl.load(ys_ptr + offs_j * 2 + 1, mask=mask_j, other=0.0)
        uj = tl.load(us_ptr + offs_j, mask=mask_j, other=1.0)
        sj = tl.load(src_ptr + offs_j, mask=mask_j, other=-1)
        d0 = yi0[:, None] - yj0[None, :]
        d1 = yi1[:, None] - yj1[None, :]
        h = 2.0 / (ui[:, None] + uj[None, :])
        if ALPHA_ONE:  # noqa: SIM108 (a compile-time branch)
            gamma = h * h
        else:
            gamma = tl.exp2(two_alpha * tl.log2(h))
        w = 1.0 / (1.0 + gamma * (d0 * d0 + d1 * d1))
        keep = mask_j[None, :] & (sj[None, :] != offs_i[:, None])
        w = tl.where(keep, w, 0.0)
        c = gamma * w * w
        acc_z += tl.sum(w, axis=1)
        acc_f0 += tl.sum(c * d0, axis=1)
        acc_f1 += tl.sum(c * d1, axis=1)
    tl.store(z_ptr + offs_i, acc_z, mask=mask_i)
    tl.store(f_ptr + offs_i * 2, acc_f0, mask=mask_i)
    tl.store(f_ptr + offs_i * 2 + 1, acc_f1, mask=mask_i)


_COMPILED: dict[bool, object] = {}


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def _kernel() -> Any:
    """The kernel, jitted on first use (Triton imported then): interpreter or compiler by the mode."""
    global triton, tl
    if triton is None:
        import triton as triton_module
        import triton.language as tl_module

        triton, tl = triton_module, tl_module
    mode = _interpret()
    if mode not in _COMPILED:
        _COMPILED[mode] = triton.jit(_repulsion_kernel)
    return _COMPILED[mode]


def triton_available(device: torch.device | str) -> bool:
    """Whether the Triton kernel can run on `device` (CUDA, or any device under TRITON_INTERPRET=1)."""
    if importlib.util.find_spec("triton") is None:
        return False
    return _interpret() or torch.device(device).type == "cuda"


def density_repulsion_triton(y: Tensor, u: Tensor, alpha: float = 1.0, src: Tensor | None = None,
                             block_i: int = 64, block_j: int = 64) -> tuple[Tensor, Tensor]:
    """The fused Triton version of `density_repulsion_torch` (float32 accumulation, d = 2 only)."""
    _check(y, u, src)
    if importlib.util.find_spec("triton") is None:
        raise RuntimeError("triton is not installed; use density_repulsion_torch")
    if y.shape[1] != 2:
        raise ValueError(f"the Triton kernel handles 2-D embeddings only, got d={y.shape[1]}")
    n = y.shape[0]
    src_idx = torch.arange(n, device=y.device) if src is None else src.to(y.device).long()
    y32 = y.to(torch.float32).contiguous()
    u32 = u.to(torch.float32).contiguous()
    ys, us = y32[src_idx].contiguous(), u32[src_idx].contiguous()
    src32 = src_idx.to(torch.int32).contiguous()
    z = torch.empty(n, dtype=torch.float32, device=y.device)
    f = torch.empty(n, 2, dtype=torch.float32, device=y.device)
    kernel = _kernel()
    grid = (triton.cdiv(n, block_i),)
    kernel[grid](y32, u32, ys, us, src32, z, f, n, src_idx.shape[0], 2.0 * float(alpha),
                            ALPHA_ONE=alpha == 1.0, BLOCK_I=block_i, BLOCK_J=block_j)
    return z.to(y.dtype), f.to(y.dtype)


def density_repulsion(y: Tensor, u: Tensor, alpha: float = 1.0, src: Tensor | None = None,
                      backend: str = "auto") -> tuple[Tensor, Tensor]:
    """Repulsive sums z (n,), f (n, d); backend 'auto' uses Triton on CUDA for 2-D, else torch."""
    if backend not in ("auto", "torch", "triton"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'triton', got {backend!r}")
    use_triton = backend == "triton" or (
        backend == "auto" and y.device.type == "cuda" and y.shape[1] == 2 and triton_available(y.device))
    if use_triton:
        return density_repulsion_triton(y, u, alpha, src)
    if src is None:
        return density_repulsion_symmetric(y, u, alpha)
    return density_repulsion_torch(y, u, alpha, src)
