r"""Fused Triton kernels: a base optimizer step and the hyperbolic mirror step in one pass per tensor.

The mirror step of HAM / HORST (`relml.optim.hyperbolic`),
x ← x ⊙ exp(clamp(−η(α sign(x) ⊙ g + β), −c, c)), is elementwise, so it can ride along with the base
step: each program loads a block of x, g and the base state once, applies the base update (torch's SGD
with momentum / dampening / Nesterov / weight decay, or torch's AdamW) and then the mirror factor in
registers, and stores x and the state once. Memory traffic is exactly the base step's; the extra work is
one exp per weight. The torch reference they are tested against is the base step of `torch.optim`
followed by `relml.optim.hyperbolic.hyperbolic_step` (CPU, TRITON_INTERPRET=1; timed on a GPU).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor

try:  # triton is optional: the foreach path serves every device without it
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the environment
    triton = None
    tl = None

__all__ = ["adamw_hyperbolic", "sgd_hyperbolic", "triton_available"]

BLOCK = 1024


def _sgd_kernel(p_ptr, g_ptr, buf_ptr, n, lr, momentum, dampening, weight_decay, mirror_scale,
                mirror_shift, clamp, HAS_MOMENTUM: tl.constexpr, FIRST: tl.constexpr,
                NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, MIRROR: tl.constexpr,
                BLOCK_SIZE: tl.constexpr):
    """SGD (torch semantics) then x ← x exp(clamp(scale sign(x) g + shift, ±c)), scale = −ηα, shift = −ηβ."""
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if MAXIMIZE:
        g = -g
    d = g + weight_decay * p
    if HAS_MOMENTUM:
        if FIRST:
            buf = d
        else:
            buf = tl.load(buf_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            buf = buf * momentum + (1.0 - dampening) * d
        tl.store(buf_ptr + offs, buf.to(buf_ptr.dtype.element_ty), mask=mask)
        if NESTEROV:  # noqa: SIM108 (a compile-time branch)
            d = d + momentum * buf
        else:
            d = buf
    p = p - lr * d
    if MIRROR:
        sign = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
        y = tl.minimum(tl.maximum(sign * g * mirror_scale + mirror_shift, -clamp), clamp)
        p = p * tl.exp(y)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)


def _adamw_kernel(p_ptr, g_ptr, m_ptr, v_ptr, n, lr, beta1, beta2, eps, weight_decay, step_size,
                  bias_correction2_sqrt, mirror_scale, mirror_shift, clamp, MAXIMIZE: tl.constexpr,
                  MIRROR: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """AdamW (torch semantics, decoupled decay, bias-corrected) then the mirror factor (HORST)."""
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    m = tl.load(m_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v = tl.load(v_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if MAXIMIZE:
        g = -g
    p = p * (1.0 - lr * weight_decay)
    m = m + (1.0 - beta1) * (g - m)
    v = v * beta2 + (1.0 - beta2) * g * g
    denom = tl.sqrt(v) / bias_correction2_sqrt + eps
    p = p - step_size * (m / denom)
    if MIRROR:
        sign = tl.where(p > 0, 1.0, tl.where(p < 0, -1.0, 0.0))
        y = tl.minimum(tl.maximum(sign * g * mirror_scale + mirror_shift, -clamp), clamp)
        p = p * tl.exp(y)
    tl.store(m_ptr + offs, m.to(m_ptr.dtype.element_ty), mask=mask)
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)


_COMPILED: dict[tuple[str, bool], object] = {}


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def _kernel(name: str) -> object:
    """The kernel, jitted on first use: Triton picks interpreter or compiler when it decorates."""
    key = (name, _interpret())
    if key not in _COMPILED:
        _COMPILED[key] = triton.jit({"sgd": _sgd_kernel, "adamw": _adamw_kernel}[name])
    return _COMPILED[key]


def triton_available(device: torch.device | str) -> bool:
    """Whether the fused kernels can run on `device` (CUDA, or any device under TRITON_INTERPRET=1)."""
    if triton is None:
        return False
    return _interpret() or torch.device(device).type == "cuda"


def _check(params: Sequence[Tensor], *others: Sequence[Tensor | None]) -> None:
    if triton is None:
        raise RuntimeError("triton is not installed: use the foreach path (fused=False)")
    for i, p in enumerate(params):
        if not triton_available(p.device):
            raise RuntimeError(f"the fused kernels need a CUDA tensor (or TRITON_INTERPRET=1), param {i} is "
                               f"on {p.device}: use fused=False")
        if p.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"param {i} has dtype {p.dtype}: the fused kernels take float32/16 and bfloat16")
        for other in others:
            t = other[i]
            if t is not None and (t.shape != p.shape or not t.is_contiguous()):
                raise ValueError(f"param {i}: gradients and state must be contiguous with the param's shape")
        if not p.is_contiguous():
            raise ValueError(f"param {i} is not contiguous: the fused kernels need contiguous tensors")


def sgd_hyperbolic(params: Sequence[Tensor], grads: Sequence[Tensor], momentum_buffers: list[Tensor | None],
                   mirror: Sequence[bool], *, lr: float, momentum: float, dampening: float,
                   weight_decay: float, nesterov: bool, maximize: bool, alpha: float, beta: float,
                   clamp: float) -> None:
    """Fused torch-SGD + mirror step, in place; creates missing momentum buffers (see module docstring)."""
    _check(params, grads, momentum_buffers)
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        first = momentum != 0 and momentum_buffers[i] is None
        if first:
            momentum_buffers[i] = torch.empty_like(p, memory_format=torch.contiguous_format)
        buf = momentum_buffers[i] if momentum != 0 else p  # a dummy pointer without momentum
        n = p.numel()
        _kernel("sgd")[(triton.cdiv(n, BLOCK),)](
            p, g, buf, n, lr, momentum, dampening, weight_decay, -lr * alpha, -lr * beta, clamp,
            HAS_MOMENTUM=momentum != 0, FIRST=first, NESTEROV=nesterov, MAXIMIZE=maximize,
            MIRROR=bool(mirror[i]), BLOCK_SIZE=BLOCK)


def adamw_hyperbolic(params: Sequence[Tensor], grads: Sequence[Tensor], exp_avgs: Sequence[Tensor],
                     exp_avg_sqs: Sequence[Tensor], steps: Sequence[Tensor], mirror: Sequence[bool], *,
                     lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, maximize: bool,
                     alpha: float, beta: float, clamp: float) -> None:
    """Fused torch-AdamW + mirror step (HORST), in place; increments each `steps[i]`."""
    _check(params, grads, exp_avgs, exp_avg_sqs)
    for i, p in enumerate(params):
        steps[i] += 1
        t = float(steps[i])
        step_size = lr / (1.0 - beta1**t)
        bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
        n = p.numel()
        _kernel("adamw")[(triton.cdiv(n, BLOCK),)](
            p, grads[i], exp_avgs[i], exp_avg_sqs[i], n, lr, beta1, beta2, eps, weight_decay, step_size,
            bias_correction2_sqrt, -lr * alpha, -lr * beta, clamp, MAXIMIZE=maximize,
            MIRROR=bool(mirror[i]), BLOCK_SIZE=BLOCK)
