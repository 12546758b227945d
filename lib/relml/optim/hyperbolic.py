r"""The hyperbolic mirror step of HAM and HORST, as plain functions over lists of tensors.

After an ordinary optimizer step x_k → x_{k+½} with gradient g_k = ∇f(x_k), the hyperbolic step is

.. math::
    x_{k+1} = x_{k+\frac12} \odot \exp\!\Big(\mathrm{clamp}\big(-\eta\,(\alpha\,\mathrm{sign}(x_{k+\frac12})
              \odot g_k + \beta),\ -c,\ c\big)\Big)

(Jacobs, Gadhikar, Rubio-Madrigal & Burkholz, "Hyperbolic Aware Minimization", ICLR 2026, Algorithm 1;
the clamp c = 5 and η = the group's current learning rate are from the official wrapper,
`TomJacobs05/HAM`). In gradient-flow form it adds −|x| ⊙ (α∇f + β sign x) to the velocity: the inverse
metric becomes 1 + α|x| (never smaller than gradient descent's, unlike m ⊙ w's) and β/α acts as an L1
penalty. The factor is positive, so the step never flips a sign and an exact zero stays exactly zero:
a pruned weight cannot be revived by it.

Three implementations of the same step (they agree to float rounding; `tests/optim/test_hyperbolic.py`):

- `_single_tensor_hyperbolic_step`: the reference, one tensor at a time;
- `_multi_tensor_hyperbolic_step` (`foreach=True`): torch's multi-tensor kernels for many small tensors,
  and for few large ones a per-tensor path with fewer passes (sign, one addcmul, exp2, one multiply);
- the fused steps `fused_sgd_hyperbolic_` and `fused_adamw_hyperbolic_`: the base step (SGD with
  momentum, or AdamW) and the mirror step in one Triton kernel per tensor that reads every tensor once
  and writes it once, as torch's own fused base step does (`relml.kernels.hyperbolic_triton`; CUDA, or
  the CPU under TRITON_INTERPRET=1 for testing).

Which parameters get the step: a param group's ``hyperbolic`` flag; ``None`` means "tensors with ≥ 2
dimensions" (the official rule: weights, not biases or norm scales). `hyperbolic_param_groups(model)`
builds groups that also leave out embeddings and tokens, as HORST requires.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

__all__ = ["LOG2E", "check_hyperbolic_args", "fused_adamw_hyperbolic_", "fused_sgd_hyperbolic_",
           "hyperbolic_param_groups", "hyperbolic_step", "is_hyperbolic", "mirror_weights"]

LOG2E = 1.0 / math.log(2.0)

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm)
_EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


# ---------------------------------------------------------------------------------------------
# arguments and parameter selection


def _real(value: Any) -> float | None:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def check_hyperbolic_args(lr: Any, alpha: Any, beta: Any, clamp: Any) -> tuple[float, float, float, float]:
    """(lr, α, β, c) as floats; ValueError saying what to pass if one is out of range or NaN."""
    out = []
    for name, value, lo, open_lo in (("lr", lr, 0.0, False), ("alpha", alpha, 0.0, False),
                                     ("beta", beta, -math.inf, False), ("clamp", clamp, 0.0, True)):
        v = _real(value)
        if v is None or not math.isfinite(v) or v < lo or (open_lo and v == lo):
            bound = f"> {lo}" if open_lo else (f">= {lo}" if lo > -math.inf else "finite")
            raise ValueError(f"{name}={value!r}: pass a real number {bound}")
        out.append(v)
    return out[0], out[1], out[2], out[3]


def is_hyperbolic(param: Tensor, flag: bool | None) -> bool:
    """Whether a parameter takes the mirror step: `flag`, or for None the official rule ndim >= 2."""
    return param.ndim >= 2 if flag is None else bool(flag)


def mirror_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights the hyperbolic step applies to in a model, in registration order.

    `model.prunable_weights()` when the model defines it (e.g. `relml.models.TinyTransformer`);
    otherwise every parameter with >= 2 dimensions that is not a bias (no name part starting with
    "bias") and not owned by a normalization or embedding layer (HAM, Sec. 5; HORST: "not LayerNorm,
    biases or embedding vectors").
    """
    if hasattr(model, "prunable_weights"):
        return list(model.prunable_weights())
    out, seen = [], set()
    for _, module in model.named_modules():
        if isinstance(module, _NORMS + _EMBEDDINGS):
            for p in module.parameters(recurse=False):
                seen.add(id(p))
            continue
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if p.ndim >= 2 and not name.startswith("bias"):
                out.append(p)
    return out


def hyperbolic_param_groups(model: nn.Module, weights: Iterable[Tensor] | None = None,
                            **options: Any) -> list[dict[str, Any]]:
    """Two param groups: `weights` (default `mirror_weights(model)`) with ``hyperbolic=True``, every
    other trainable parameter with ``hyperbolic=False``; `options` (lr, weight_decay, ...) go to both.
    """
    chosen = list(mirror_weights(model) if weights is None else weights)
    ids = {id(p) for p in chosen}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": chosen, "hyperbolic": True, **options}]
    if rest:
        groups.append({"params": rest, "hyperbolic": False, **options})
    return groups


def _check_lists(params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
    if len(params) != len(grads):
        raise ValueError(f"got {len(params)} params and {len(grads)} grads: pass one gradient per parameter")
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if p.shape != g.shape:
            raise ValueError(f"param {i} has shape {tuple(p.shape)} but its gradient {tuple(g.shape)}")


# ---------------------------------------------------------------------------------------------
# the mirror step


@torch.no_grad()
def _single_tensor_hyperbolic_step(params: Sequence[Tensor], grads: Sequence[Tensor], *, lr: float,
                                   alpha: float, beta: float, clamp: float, maximize: bool) -> None:
    """Reference: x ← x ⊙ exp(clamp(−η(α sign(x) ⊙ g + β), −c, c)), one tensor at a time."""
    for p, g in zip(params, grads, strict=True):
        g = -g if maximize else g
        exponent = torch.sign(p).mul_(g).mul_(alpha).add_(beta).mul_(-lr).clamp_(-clamp, clamp)
        p.mul_(exponent.exp_())


# from this many elements per tensor (on average) on, per-tensor kernels with fewer passes beat foreach ones
_EXP2_MIN_NUMEL = 1 << 15


@torch.no_grad()
def _multi_tensor_hyperbolic_step(params: Sequence[Tensor], grads: Sequence[Tensor], *, lr: float,
                                  alpha: float, beta: float, clamp: float, maximize: bool) -> None:
    """The same step in as few passes over the weights as torch's kernels allow, per (device, dtype).

    Many small tensors (dispatch-bound): foreach kernels, sign, ×g, ×scale, +shift, clamp, exp, ×x.
    Few large tensors (bandwidth-bound): per tensor, sign(x), then shift + scale·sign(x)·g in one
    addcmul, exp2 (about 3x cheaper than exp on the CPU; log2 e is folded into scale, shift and the
    clamp bound) and ×x; on the CPU the clamp runs only when a read-only min/max pass finds an exponent
    out of bounds (on a GPU that check would synchronise, so the clamp always runs there).
    """
    grouped = _group_tensors_by_device_and_dtype([list(params), list(grads)])
    for (device, dtype), ((ps, gs), _) in grouped.items():
        if any(g.dtype != dtype for g in gs):
            gs = [g.to(dtype) for g in gs]
        large = sum(p.numel() for p in ps) >= _EXP2_MIN_NUMEL * len(ps)
        base = LOG2E if large else 1.0
        scale = (lr if maximize else -lr) * alpha * base
        shift, bound = -lr * beta * base, clamp * base
        if large:
            shift_t = torch.tensor(shift, dtype=dtype, device=device)
            for p, g in zip(ps, gs, strict=True):
                e = torch.sign(p)
                torch.addcmul(shift_t, e, g, value=scale, out=e)
                if device.type != "cpu":
                    e.clamp_(-bound, bound)
                else:
                    lo, hi = torch.aminmax(e)
                    if lo.item() < -bound or hi.item() > bound:
                        e.clamp_(-bound, bound)
                torch.exp2(e, out=e)
                p.mul_(e)
            continue
        exponent = torch._foreach_sign(ps)
        torch._foreach_mul_(exponent, gs)
        torch._foreach_mul_(exponent, scale)
        if shift != 0.0:
            torch._foreach_add_(exponent, shift)
        torch._foreach_clamp_min_(exponent, -bound)
        torch._foreach_clamp_max_(exponent, bound)
        torch._foreach_exp_(exponent)
        torch._foreach_mul_(ps, exponent)


def _hyperbolic_step(params: Sequence[Tensor], grads: Sequence[Tensor], *, lr: float, alpha: float,
                     beta: float, clamp: float, maximize: bool, foreach: bool | None) -> None:
    """`hyperbolic_step` without argument checks (for optimizers, which check at construction)."""
    if not params or (alpha == 0.0 and beta == 0.0) or lr == 0.0:
        return
    if foreach is None:
        foreach = len(params) > 1
    step = _multi_tensor_hyperbolic_step if foreach else _single_tensor_hyperbolic_step
    step(params, grads, lr=lr, alpha=alpha, beta=beta, clamp=clamp, maximize=maximize)


def hyperbolic_step(params: Sequence[Tensor], grads: Sequence[Tensor], *, lr: float, alpha: float,
                    beta: float = 0.0, clamp: float = 5.0, maximize: bool = False,
                    foreach: bool | None = None) -> None:
    r"""In place, x ← x ⊙ exp(clamp(−lr (α sign(x) ⊙ g + β), −c, c)) for every (x, g) pair.

    params: tensors x (any shapes, updated in place), grads: the gradients g of the same shapes (the
    gradient at the point *before* the base step, as in HAM's Algorithm 1); `maximize` uses −g.
    `foreach=None` picks the multi-tensor path for more than one tensor.
    """
    _check_lists(params, grads)
    lr, alpha, beta, clamp = check_hyperbolic_args(lr, alpha, beta, clamp)
    _hyperbolic_step(params, grads, lr=lr, alpha=alpha, beta=beta, clamp=clamp, maximize=maximize,
                     foreach=foreach)


# ---------------------------------------------------------------------------------------------
# fused base + mirror steps (Triton)


def fused_sgd_hyperbolic_(params: Sequence[Tensor], grads: Sequence[Tensor],
                          momentum_buffers: list[Tensor | None], mirror: Sequence[bool], *, lr: float,
                          momentum: float, dampening: float, weight_decay: float, nesterov: bool,
                          maximize: bool, alpha: float, beta: float, clamp: float = 5.0) -> None:
    """torch.optim.SGD's step followed by the mirror step (on tensors with `mirror[i]`), fused.

    One kernel per tensor reads x, g and the momentum buffer once and writes x and the buffer once.
    `momentum_buffers[i]` is None before the first step (it is created, as torch's SGD does: b = g').
    Equal to `torch.optim.sgd.sgd(...)` then `hyperbolic_step(...)` up to float rounding.
    """
    from relml.kernels import hyperbolic_triton

    _check_lists(params, grads)
    check_hyperbolic_args(lr, alpha, beta, clamp)
    hyperbolic_triton.sgd_hyperbolic(params, grads, momentum_buffers, mirror, lr=float(lr),
                                     momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                     nesterov=nesterov, maximize=maximize, alpha=alpha, beta=beta,
                                     clamp=clamp)


def fused_adamw_hyperbolic_(params: Sequence[Tensor], grads: Sequence[Tensor], exp_avgs: Sequence[Tensor],
                            exp_avg_sqs: Sequence[Tensor], steps: Sequence[Tensor], mirror: Sequence[bool],
                            *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                            maximize: bool, alpha: float, beta: float, clamp: float = 5.0) -> None:
    """torch.optim.AdamW's step followed by the mirror step (HORST), fused into one kernel per tensor.

    Reads x, g, m, v once and writes x, m, v once; `steps[i]` (a 0-dim tensor) is incremented as in
    torch's AdamW. Equal to `torch.optim.adamw.adamw(...)` then `hyperbolic_step(...)` up to rounding.
    """
    from relml.kernels import hyperbolic_triton

    _check_lists(params, grads)
    check_hyperbolic_args(lr, alpha, beta, clamp)
    hyperbolic_triton.adamw_hyperbolic(params, grads, exp_avgs, exp_avg_sqs, steps, mirror, lr=float(lr),
                                       beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                                       maximize=maximize, alpha=alpha, beta=beta, clamp=clamp)
