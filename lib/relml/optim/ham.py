r"""HAM: Hyperbolic Aware Minimization, a hyperbolic mirror step after any base optimizer.

Jacobs, Gadhikar, Rubio-Madrigal & Burkholz, "Hyperbolic Aware Minimization: Implicit Bias for
Sparsity", ICLR 2026 (arXiv 2506.02630), Algorithm 1 and the official wrapper (`TomJacobs05/HAM`):

.. math::
    x_{k+\frac12} = \mathrm{base}(x_k, \nabla f(x_k)),\qquad
    x_{k+1} = x_{k+\frac12} \odot \exp\!\big(\mathrm{clamp}(-\eta_k(\alpha\,\mathrm{sign}(x_{k+\frac12})
    \odot \nabla f(x_k) + \beta), -5, 5)\big)

with η_k the group's current learning rate, α = 200 and β = 10⁻³ by default, on weight tensors only
(ndim ≥ 2; biases and norm scales take the base step alone). Exact zeros stay zero, so HAM composes with
masks (`relml.sparse.MaskCallback` zeroes masked gradients, so the base step does not revive them either).

Two safeguards of the official wrapper are left out on purpose: its per-tensor weight-norm clip at 1000
(never active in the paper's regime, and it costs a reduction per tensor) and its gradient-norm clip at
20, which runs *after* both updates and so does not change the step. NaN handling is the training loop's
(`relml.train.fit` stops on a non-finite loss).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from relml.optim.hyperbolic import (
    _hyperbolic_step,
    check_hyperbolic_args,
    fused_sgd_hyperbolic_,
    is_hyperbolic,
)
from relml.optim.wrapper import OptimizerWrapper

__all__ = ["HAM"]

_GROUP_KEYS = ("ham_alpha", "ham_beta", "ham_clamp")


class HAM(OptimizerWrapper):
    r"""Wrap a torch optimizer: after each of its steps, apply HAM's hyperbolic mirror step.

    Parameters
    ----------
    optimizer : any instantiated ``torch.optim.Optimizer`` (SGD, Adam, AdamW, ...); HAM shares its
        param groups and state.
    alpha, beta : α (gradient-sign coupling) and β (constant decay, an L1 penalty of strength β/α in
        the mirror geometry); defaults 200 and 1e-3 from the official wrapper. Stored per group as
        ``ham_alpha`` / ``ham_beta``, so groups may differ (set α = β = 0 to switch HAM off for a group).
    clamp : bound c on the exponent, default 5.
    foreach : use the multi-tensor mirror step (default: when a group has more than one tensor).
    fused : with a ``torch.optim.SGD`` base, run SGD and the mirror step as one Triton kernel per
        tensor (CUDA, or TRITON_INTERPRET=1); the state stays SGD's own ``momentum_buffer``.

    A group's ``hyperbolic`` key picks its tensors: None (default) = ndim ≥ 2, True = all, False =
    none (`relml.optim.hyperbolic.hyperbolic_param_groups` also leaves out embeddings).

    Example::

        opt = HAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), alpha=200, beta=1e-3)
        loss = f(model); opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, optimizer: torch.optim.Optimizer, alpha: float = 200.0, beta: float = 1e-3,
                 clamp: float = 5.0, *, foreach: bool | None = None, fused: bool = False) -> None:
        check_hyperbolic_args(0.0, alpha, beta, clamp)
        # the state stays the base optimizer's own too (see `state`)
        super().__init__(optimizer, {"ham_alpha": float(alpha), "ham_beta": float(beta),
                                     "ham_clamp": float(clamp), "hyperbolic": None})
        if fused and type(optimizer) is not torch.optim.SGD:
            raise ValueError(f"fused=True needs a torch.optim.SGD base, got {type(optimizer).__name__}; "
                             "use fused=False (the foreach mirror step works after any optimizer)")
        self.foreach, self.fused = foreach, bool(fused)

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.optimizer.state

    @state.setter
    def state(self, value: Any) -> None:
        self.optimizer.state = value

    def _init_group(self, group: dict[str, Any]) -> None:
        for key in (*_GROUP_KEYS, "hyperbolic"):
            group.setdefault(key, self.defaults[key])
        check_hyperbolic_args(0.0, group["ham_alpha"], group["ham_beta"], group["ham_clamp"])

    @torch.no_grad()
    def _mirror(self, group: dict[str, Any]) -> None:
        params = [p for p in group["params"] if p.grad is not None and is_hyperbolic(p, group["hyperbolic"])]
        _hyperbolic_step(params, [p.grad for p in params], lr=float(group["lr"]), alpha=group["ham_alpha"],
                        beta=group["ham_beta"], clamp=group["ham_clamp"],
                        maximize=bool(group.get("maximize", False)), foreach=self.foreach)

    @torch.no_grad()
    def _fused_sgd(self, group: dict[str, Any]) -> None:
        if group.get("differentiable") or group.get("fused"):
            raise ValueError("fused HAM needs a plain torch.optim.SGD (not differentiable, not fused itself)")
        params = [p for p in group["params"] if p.grad is not None]
        if any(p.grad.is_sparse for p in params):
            raise ValueError("fused HAM does not take sparse gradients; use fused=False")
        buffers = [self.state[p].get("momentum_buffer") for p in params]
        fused_sgd_hyperbolic_(params, [p.grad for p in params], buffers,
                              [is_hyperbolic(p, group["hyperbolic"]) for p in params], lr=float(group["lr"]),
                              momentum=group["momentum"], dampening=group["dampening"],
                              weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                              maximize=group["maximize"], alpha=group["ham_alpha"], beta=group["ham_beta"],
                              clamp=group["ham_clamp"])
        if group["momentum"] != 0:
            for p, buf in zip(params, buffers, strict=True):
                self.state[p]["momentum_buffer"] = buf

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One base step, then the hyperbolic step with the gradients the base step used."""
        self._pre_step(closure)
        if self.fused:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                self._fused_sgd(group)
        else:
            loss = self.optimizer.step(closure)
            # the base step leaves p.grad as it was (torch optimizers do not write to it)
            for group in self.param_groups:
                self._mirror(group)
        self._post_step(closure)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict; its param groups carry HAM's α, β, clamp and selection."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state_dict)
        for group in self.param_groups:
            self._init_group(group)

    def __repr__(self) -> str:
        ab = sorted({(g["ham_alpha"], g["ham_beta"]) for g in self.param_groups})
        return f"HAM((alpha, beta) in {ab}, base={self.optimizer!r})"
