r"""HORST (Hyperbolic Operator for Robust Sparse Training): an AdamW step, then a hyperbolic mirror step.

Jacobs, Jain & Burkholz, "HORST: Composing Optimizer Geometries for Sparse Transformer Training", HiLD
workshop at ICML 2026 (arXiv 2605.21104). Optimizer steps are treated as non-commuting operators; HORST
applies the adaptive operator first, which brings AdamW's stability (its implicit L∞ geometry), and the
hyperbolic mirror operator second, which adds an L1 sparsity bias:

.. math::
    x_{k+\frac12} = \mathrm{AdamW}(x_k, g_k),\qquad
    x_{k+1} = x_{k+\frac12} \odot \exp\!\big(\mathrm{clamp}(-\eta_k(\alpha\,\mathrm{sign}(x_{k+\frac12})
    \odot g_k + \beta), -c, c)\big),\qquad g_k = \nabla f(x_k).

The mirror operator is HAM's (`relml.optim.hyperbolic`), applied only to the weight matrices of linear
layers, never to LayerNorm, biases, or embedding vectors and tokens (use
`hyperbolic_param_groups(model)`). Caveat: the paper's body was not available to us; the order (AdamW
first) follows its abstract, while feeding the raw gradient g_k (not Adam's normalised direction) into the
exponent and the clamp c = 5 follow HAM. With this reading HORST equals HAM wrapped around AdamW with
embeddings excluded; it is its own optimizer here so that the fused kernel can do both in one pass.

The state per parameter is AdamW's (``step``, ``exp_avg``, ``exp_avg_sq``), so a HORST state dict has
AdamW's layout plus the groups' ``alpha``, ``beta``, ``clamp`` and ``hyperbolic``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim.adamw import adamw

from relml.optim.hyperbolic import (
    _hyperbolic_step,
    check_hyperbolic_args,
    fused_adamw_hyperbolic_,
    is_hyperbolic,
)

__all__ = ["HORST"]


class HORST(torch.optim.Optimizer):
    r"""AdamW, then the hyperbolic mirror step on the weights (module docstring).

    Parameters
    ----------
    params : tensors or param groups; a group's ``hyperbolic`` key picks its mirror tensors (None:
        ndim ≥ 2; use `relml.optim.hyperbolic.hyperbolic_param_groups(model)` to leave out embeddings).
    lr, betas, eps, weight_decay : AdamW's (torch semantics, decoupled weight decay).
    alpha, beta, clamp : the mirror step's α, β and exponent bound c.
    foreach : multi-tensor AdamW and mirror step (default: torch's choice / more than one tensor).
    fused : AdamW and the mirror step in one Triton kernel per tensor (CUDA, or TRITON_INTERPRET=1).

    Example::

        opt = HORST(hyperbolic_param_groups(model), lr=1e-3, weight_decay=0.05, alpha=1000.0)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
                 alpha: float = 200.0, beta: float = 1e-3, clamp: float = 5.0, *, maximize: bool = False,
                 foreach: bool | None = None, fused: bool = False) -> None:
        _check_adamw(lr, betas, eps, weight_decay)
        check_hyperbolic_args(lr, alpha, beta, clamp)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "alpha": float(alpha), "beta": float(beta), "clamp": float(clamp), "hyperbolic": None,
                    "maximize": maximize, "foreach": foreach, "fused": bool(fused)}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _check_adamw(group["lr"], group["betas"], group["eps"], group["weight_decay"])
        check_hyperbolic_args(group["lr"], group["alpha"], group["beta"], group["clamp"])

    def _lists(self, group: dict[str, Any]) -> tuple[list[Tensor], ...]:
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise ValueError("HORST does not take sparse gradients")
            state = self.state[p]
            if not state:  # AdamW's layout, so the state dict matches torch's
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, steps

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One AdamW step, then the mirror step with the same gradients."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._lists(group)
            if not params:
                continue
            mirror = [is_hyperbolic(p, group["hyperbolic"]) for p in params]
            beta1, beta2 = group["betas"]
            lr = float(group["lr"])
            if group["fused"]:
                fused_adamw_hyperbolic_(params, grads, exp_avgs, exp_avg_sqs, steps, mirror, lr=lr,
                                        beta1=beta1, beta2=beta2, eps=group["eps"],
                                        weight_decay=group["weight_decay"], maximize=group["maximize"],
                                        alpha=group["alpha"], beta=group["beta"], clamp=group["clamp"])
                continue
            adamw(params, grads, exp_avgs, exp_avg_sqs, [], steps, foreach=group["foreach"], amsgrad=False,
                  beta1=beta1, beta2=beta2, lr=lr, weight_decay=group["weight_decay"], eps=group["eps"],
                  maximize=group["maximize"])
            chosen = [i for i, m in enumerate(mirror) if m]
            _hyperbolic_step([params[i] for i in chosen], [grads[i] for i in chosen], lr=lr,
                            alpha=group["alpha"], beta=group["beta"], clamp=group["clamp"],
                            maximize=group["maximize"], foreach=group["foreach"])
        return loss


def _check_adamw(lr: Any, betas: Any, eps: Any, weight_decay: Any) -> None:
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"lr={lr!r}: pass a learning rate >= 0")
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= b < 1 for b in betas)):
        raise ValueError(f"betas={betas!r}: pass two numbers in [0, 1), e.g. (0.9, 0.999)")
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps={eps!r}: pass a number >= 0")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay={weight_decay!r}: pass a number >= 0")
