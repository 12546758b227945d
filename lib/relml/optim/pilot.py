r"""PILoT: continuous sparsification θ = m ⊙ w with a time-dependent weight decay on m and w.

Jacobs & Burkholz, "Mask in the Mirror: Implicit Sparsification", ICLR 2025 (arXiv 2408.09966).

**Reparameterisation.** Every prunable weight θ (linear/conv kernels; biases, norm and embedding vectors
stay as they are) is replaced by the elementwise product θ = m ⊙ w of two trainable tensors and trained on

.. math::  f(m \odot w) + \alpha_k \left(\|m\|_2^2 + \|w\|_2^2\right)

(Sec. 3, h(m, w) = Σ m_i² + w_i², no 1/2; its gradient flow is eq. 7, dm = −(∇f ⊙ w + 2α m) dt).
Gradient flow then keeps m ⊙ w on a *time-dependent mirror flow* d∇R_{a_t}(x_t) = −∇f(x_t) dt whose
potential is the hyperbolic entropy with scale a_t = (m_0² − w_0²) exp(−4 ∫_0^t α_s ds) (Theorem 3.1 with
Lemma A.1: m² − w² obeys d/dt (m² − w²) = −4 α_t (m² − w²), so it is conserved without regularisation and
decays only through it; the paper's Theorem 3.1 prints the exponent as −2∫α, which is the (α/2)-penalty
convention). Large a_t: an L2-like implicit bias; a_t → 0: an L1-like bias (Remark 2.1). One SGD step of
size η on (m, w) with penalty α multiplies m² − w² by exactly (1 − 2ηα)² − η² g² (g = ∂f/∂θ), which
`tests/optim/test_pilot.py` checks.

**Initialisation** (Algorithm 1, Sec. 4 "scaling 2u_0 v_0 = 1"): m_0 ⊙ w_0 = x_init (a standard
initialisation of θ) and m_0² − w_0² = β, i.e. m_0² = (β + √(β² + 4x²))/2, w_0 = x/m_0. β > 0 is the
imbalanced init the paper proposes (β = 1 in all its experiments); β = 0 is spred's balanced init
|m_0| = |w_0| = √|x|, with which the potential cannot reach the L1 regime.

**Schedule** (Algorithm 1): after epoch k = 1..T, α_k = δ α_{k−1} if the training accuracy did not drop,
‖m_k ⊙ w_k‖_1 ≥ K and k ≤ T/2; otherwise α_k = α_{k−1}/δ. So α grows while the fit holds in the first
half and then decays geometrically, ∫α stays finite and training converges to an interpolant of the
implicit (nearly L1) potential (Theorems 3.2, 3.3). The sparse network is θ_T = m_T ⊙ w_T pruned by
magnitude to the target sparsity (Sec. 4, one-shot).

Pieces: `imbalanced_init`, the parametrization `MaskWeightProduct` and `reparameterize(model, beta)`
(torch.nn.utils.parametrize; `collapse(model)` turns m ⊙ w back into plain weights), `pilot_param_groups`,
and the optimizer `PILoT` (SGD with momentum on m and w, the penalty as coupled or decoupled weight decay,
Algorithm 1's α update in `update_alpha`, optional 0/1 masks whose zeros stay exactly zero, a `foreach`
multi-tensor path, `state_dict()` round-trips); `AlphaSchedule` runs Algorithm 1 from a `relml.train.fit`
loop. Experiments of Sec. 4: `run_regression_arms` (diagonal linear networks on the shared regression
bench `relml.optim.testbench`, any number of arms side by side) and `compare_one_shot` / `run_one_shot`
(PILoT + magnitude pruning versus dense training + magnitude pruning, each with or without fine-tuning).

Example::

    pairs = reparameterize(model, beta=1.0)            # θ → m ⊙ w on every linear/conv weight
    opt = PILoT(pilot_param_groups(model), lr=0.1, momentum=0.9, alpha=1e-4, delta=1.1, epochs=T)
    for epoch in range(T):
        ...                                             # ordinary training loop with opt.step()
        opt.update_alpha(train_accuracy)               # Algorithm 1
    collapse(model)                                     # plain weights θ = m ⊙ w, then prune
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.optim import Optimizer

from relml.data import digits, load_cifar
from relml.data.augment import AugmentedBatches
from relml.models import EnsembleMLP
from relml.models.convnets import conv_net
from relml.optim.hyperbolic import mirror_weights
from relml.optim.testbench import (
    DiagonalLinearNetwork,
    RegressionProblem,
    Trajectory,
    imbalanced_init,
    run_regression,
)
from relml.sparse.oneshot import FineTune, one_shot_sweep
from relml.train import History, evaluate, fit

__all__ = ["AlphaSchedule", "ArmsResult", "MaskWeightProduct", "OneShotRecipe", "PILoT", "RegressionArm",
           "collapse", "compare_one_shot", "imbalance", "imbalanced_init", "mask_weight_pairs",
           "pilot_param_groups", "pilot_step", "product_l1", "prunable_weights", "regression_accuracy",
           "reparameterize", "run_one_shot", "run_regression_arms"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
Batch = tuple[Tensor, Tensor]


# ---------------------------------------------------------------------------------------------
# initialisation and the m ⊙ w parametrization


def _check_beta(beta: Any) -> float:
    ok = isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta)
    if not ok or beta < 0:
        raise ValueError(f"beta={beta!r}: pass the imbalance m0² − w0² as a number >= 0 (the paper uses "
                         "1; 0 is the balanced spred init)")
    return float(beta)


class MaskWeightProduct(nn.Module):
    """The parametrization θ = m ⊙ w; `right_inverse` splits a weight by `imbalanced_init(θ, beta)`.

    Registered with `torch.nn.utils.parametrize`, the module's weight becomes
    `parametrizations.<name>.original0` (m) and `.original1` (w); reading the weight returns m ⊙ w.
    """

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = _check_beta(beta)

    def forward(self, m: Tensor, w: Tensor) -> Tensor:
        return m * w

    def right_inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not bool(torch.isfinite(x).all()):
            raise ValueError("the weight contains NaN or inf: reparameterise finite weights")
        return imbalanced_init(x.detach(), self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}"


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, attribute) of every weight PILoT reparameterises, in registration order: the repository's
    rule for prunable weights (`relml.optim.hyperbolic.mirror_weights`: >= 2 dimensions, outside
    normalisation and embedding layers, `model.prunable_weights()` when the model defines it), and no
    part of the qualified name starting with "bias" (so the stacked (R, out) biases of an ensemble stay
    dense too). The paper sparsifies linear and conv kernels only."""
    chosen = {id(p) for p in mirror_weights(model)}
    out, seen = [], set()
    for qualified, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            parts = f"{qualified}.{name}".split(".")
            if id(p) in chosen and id(p) not in seen and not any(x.startswith("bias") for x in parts):
                seen.add(id(p))
                out.append((module, name))
    return out


Pair = tuple[nn.Parameter, nn.Parameter]


def reparameterize(model: nn.Module, beta: float = 1.0,
                   targets: Sequence[tuple[nn.Module, str]] | None = None) -> list[Pair]:
    """Replace each target weight θ by m ⊙ w with m² − w² = β, m ⊙ w = θ (in place); return the (m, w) pairs.

    targets: (module, attribute) pairs, default `prunable_weights(model)`. The model computes exactly
    what it computed before (up to rounding of m ⊙ w). β = 0 (balanced) needs weights without exact
    zeros: m = w = 0 is a saddle that never moves, and `imbalanced_init` refuses it.
    """
    beta = _check_beta(beta)
    targets = prunable_weights(model) if targets is None else list(targets)
    if not targets:
        raise ValueError(f"{type(model).__name__} has no weight to reparameterise (linear/conv kernels with "
                         ">= 2 dimensions); pass targets=[(module, 'weight'), ...]")
    pairs = []
    for module, name in targets:
        if parametrize.is_parametrized(module, name):
            raise ValueError(f"{type(module).__name__}.{name} is already parametrized: reparameterize once")
        parametrize.register_parametrization(module, name, MaskWeightProduct(beta))
        plist = module.parametrizations[name]
        pairs.append((plist.original0, plist.original1))
    return pairs


def mask_weight_pairs(model: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """The (m, w) pairs of every m ⊙ w weight in `model`, in module order."""
    pairs = []
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for plist in module.parametrizations.values():
                if len(plist) == 1 and isinstance(plist[0], MaskWeightProduct):
                    pairs.append((plist.original0, plist.original1))
    return pairs


@torch.no_grad()
def collapse(model: nn.Module) -> nn.Module:
    """Turn every m ⊙ w weight back into one plain trainable parameter θ = m ⊙ w (in place); return the
    model. (`parametrize.remove_parametrizations` alone would leave θ as a buffer: its value is
    computed without grad for a weight with two originals.)"""
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        for name in list(module.parametrizations.keys()):
            plist = module.parametrizations[name]
            if len(plist) == 1 and isinstance(plist[0], MaskWeightProduct):
                theta = (plist.original0 * plist.original1).detach().clone()
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
                module._buffers.pop(name, None)
                module._parameters.pop(name, None)
                module.register_parameter(name, nn.Parameter(theta))
    return model


def _pair_list(pairs: Sequence[tuple[Tensor, Tensor]] | nn.Module) -> list[tuple[Tensor, Tensor]]:
    return mask_weight_pairs(pairs) if isinstance(pairs, nn.Module) else list(pairs)


@torch.no_grad()
def product_l1(pairs: Sequence[tuple[Tensor, Tensor]] | nn.Module) -> float:
    """‖m ⊙ w‖_1 summed over all pairs (of a model or a list of pairs): Algorithm 1's sparsity check."""
    return float(sum(float((m * w).abs().sum()) for m, w in _pair_list(pairs)))


@torch.no_grad()
def imbalance(pairs: Sequence[tuple[Tensor, Tensor]] | nn.Module) -> Tensor:
    """m² − w² of every entry of every pair, flattened: (N,). Constant β under plain gradient flow."""
    return torch.cat([(m * m - w * w).reshape(-1) for m, w in _pair_list(pairs)])


def pilot_param_groups(model: nn.Module, **pair_options: Any) -> list[dict[str, Any]]:
    """Two param groups for `PILoT`: the m ⊙ w pairs (flattened m1, w1, m2, w2, ...; `pairs=True`, so
    Algorithm 1's schedule and ‖m ⊙ w‖_1 apply to them) and every other trainable parameter (biases,
    norms, embeddings) with `alpha=0`. `pair_options` go into the first group (e.g. alpha, lr)."""
    pairs = mask_weight_pairs(model)
    if not pairs:
        raise ValueError(f"{type(model).__name__} has no m ⊙ w weights: call reparameterize(model) first")
    in_pairs = {id(p) for pair in pairs for p in pair}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in in_pairs]
    groups = [{"params": [p for pair in pairs for p in pair], "pairs": True, **pair_options}]
    if rest:
        groups.append({"params": rest, "pairs": False, "alpha": 0.0})
    return groups


# ---------------------------------------------------------------------------------------------
# the optimizer

Alpha = float | Tensor


def _check_nonneg(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise ValueError(f"{name}={value!r}: pass a finite number >= 0")


def _per_row(value: Tensor, p: Tensor) -> Tensor:
    """A per-problem vector (S,) viewed as (S, 1, ..., 1) to broadcast over p: (S, ...)."""
    return value.view(-1, *([1] * (p.ndim - 1)))


def pilot_step(params: list[Tensor], grads: list[Tensor], momentum_buffers: list[Tensor | None],
               masks: list[Tensor | None], *, lr: float, alpha: Alpha, weight_decay: float, momentum: float,
               dampening: float, nesterov: bool, decoupled: bool, foreach: bool) -> None:
    r"""One PILoT/SGD step on lists of tensors (in place; `momentum_buffers` entries are filled when None).

    With c = 2α + weight_decay (the gradient of α‖p‖² + (weight_decay/2)‖p‖²):
    coupled: g ← ∇ + c p, then heavy-ball momentum and p ← p − lr g;
    decoupled: p ← (1 − lr c) p, then the SGD step on ∇ alone.
    α is a float, or a tensor (S,) giving problem s (row s of every parameter) its own α.
    Gradients are multiplied by the masks first and the masks are re-applied after the step, so masked
    entries stay exactly zero and their momentum never builds up.
    """
    if not params:
        return
    decay: Alpha = 2.0 * alpha + weight_decay
    (_foreach_step if foreach else _single_step)(
        params, grads, momentum_buffers, masks, lr=lr, decay=decay, momentum=momentum, dampening=dampening,
        nesterov=nesterov, decoupled=decoupled)


def _single_step(params: list[Tensor], grads: list[Tensor], bufs: list[Tensor | None],
                 masks: list[Tensor | None], *, lr: float, decay: Alpha, momentum: float, dampening: float,
                 nesterov: bool, decoupled: bool) -> None:
    rowwise = isinstance(decay, Tensor)
    for i, p in enumerate(params):
        g, mask = grads[i], masks[i]
        if mask is not None:
            g = g * mask
        c = _per_row(decay, p) if rowwise else decay
        if rowwise or c != 0:
            if decoupled:
                p.mul_(1 - lr * c)
            else:
                g = g.addcmul(p, c) if rowwise else g.add(p, alpha=c)
        if momentum != 0:
            buf = bufs[i]
            if buf is None:
                buf = bufs[i] = torch.clone(g).detach()
            else:
                buf.mul_(momentum).add_(g, alpha=1 - dampening)
            g = g.add(buf, alpha=momentum) if nesterov else buf
        p.add_(g, alpha=-lr)
        if mask is not None:
            p.mul_(mask)


def _foreach_step(params: list[Tensor], grads: list[Tensor], bufs: list[Tensor | None],
                  masks: list[Tensor | None], *, lr: float, decay: Alpha, momentum: float, dampening: float,
                  nesterov: bool, decoupled: bool) -> None:
    grads = list(grads)
    masked = [i for i, m in enumerate(masks) if m is not None]
    if masked:
        out = torch._foreach_mul([grads[i] for i in masked], [masks[i] for i in masked])
        for i, g in zip(masked, out, strict=True):
            grads[i] = g
    if isinstance(decay, Tensor):
        cs = [_per_row(decay, p) for p in params]
        if decoupled:
            torch._foreach_mul_(params, [1 - lr * c for c in cs])
        else:
            grads = list(torch._foreach_addcmul(grads, params, cs))
    elif decay != 0:
        if decoupled:
            torch._foreach_mul_(params, 1 - lr * decay)
        else:
            grads = list(torch._foreach_add(grads, params, alpha=decay))
    if momentum != 0:
        old = [i for i, b in enumerate(bufs) if b is not None]
        for i, b in enumerate(bufs):
            if b is None:
                bufs[i] = torch.clone(grads[i]).detach()
        if old:
            olds = [bufs[i] for i in old]
            torch._foreach_mul_(olds, momentum)
            torch._foreach_add_(olds, [grads[i] for i in old], alpha=1 - dampening)
        grads = list(torch._foreach_add(grads, bufs, alpha=momentum)) if nesterov else bufs
    torch._foreach_add_(params, grads, alpha=-lr)
    if masked:
        torch._foreach_mul_([params[i] for i in masked], [masks[i] for i in masked])


class PILoT(Optimizer):
    r"""SGD (with momentum) on m and w plus PILoT's time-dependent penalty α_k(‖m‖² + ‖w‖²) (Algorithm 1).

    Parameters
    ----------
    params : parameters or param groups; use `pilot_param_groups(model)` after `reparameterize(model)`.
        A group with ``pairs=True`` holds (m, w) pairs in the order m1, w1, m2, w2, ...: its α follows
        Algorithm 1 in `update_alpha` and its ‖m ⊙ w‖_1 is the one compared with ``threshold``.
    lr, momentum, dampening, nesterov : as in `torch.optim.SGD`.
    alpha : the penalty α ≥ 0 (α_init of Algorithm 1), α‖p‖² on every parameter p of the group; the
        paper puts it on m and w only (`pilot_param_groups` gives the other group α = 0). A tensor (S,)
        trains S independent problems stacked along dim 0 of every parameter (the regression bench),
        each with its own α and its own Algorithm 1 schedule.
    weight_decay : ordinary L2 weight decay (gradient weight_decay · p), on top of α.
    decoupled : apply the decay as p ← (1 − lr(2α + weight_decay)) p instead of through the gradient
        (the paper's SGD couples it; without momentum the two are the same step).
    delta, threshold, epochs : Algorithm 1's factor δ > 1, threshold K on ‖m ⊙ w‖_1 and number of
        epochs T (α may grow only while k ≤ T/2; ``epochs=None`` lets it grow throughout). δ = 1 keeps α
        constant (spred's constant regularisation); with a tensor α, δ may be a tensor (S,) too, so
        constant-α baselines train side by side with PILoT problems.
    foreach : the multi-tensor (``torch._foreach_*``) path; None picks it for CUDA tensors.

    `set_masks` attaches 0/1 masks whose zeros stay exactly zero. State per parameter:
    ``momentum_buffer`` and ``mask``; per group: ``alpha``, ``pilot_epoch`` (k) and ``prev_score``, so
    `state_dict()` / `load_state_dict()` restore the schedule too.

    References: Jacobs & Burkholz, ICLR 2025, Algorithm 1; Sec. 3 (penalty h(m, w)); eq. 7 (gradient flow).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, *, alpha: Alpha = 0.0, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 decoupled: bool = False, delta: float = 1.1, threshold: float = 0.0,
                 epochs: int | None = None, foreach: bool | None = None) -> None:
        defaults = dict(lr=lr, alpha=alpha, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, decoupled=decoupled, delta=delta, threshold=threshold,
                        epochs=epochs, foreach=foreach, pairs=False)
        super().__init__(params, defaults)

    @staticmethod
    def _check_group(group: dict[str, Any]) -> None:
        lr = group["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr={lr!r}: pass a learning rate > 0")
        for key in ("momentum", "dampening", "weight_decay", "threshold"):
            _check_nonneg(key, group[key])
        alpha = group["alpha"]
        if isinstance(alpha, Tensor):
            if alpha.ndim != 1 or not bool(torch.isfinite(alpha).all()) or bool((alpha < 0).any()):
                raise ValueError("alpha as a tensor must be 1-D (one α per problem), finite and >= 0")
            bad = [tuple(p.shape) for p in group["params"] if p.ndim == 0 or p.shape[0] != alpha.numel()]
            if bad:
                raise ValueError(f"alpha has {alpha.numel()} entries (problems) but parameters of shapes "
                                 f"{bad} do not stack that many problems along dim 0: pass a float alpha")
        else:
            _check_nonneg("alpha", alpha)
        if group["momentum"] >= 1:
            raise ValueError(f"momentum={group['momentum']!r}: pass a value in [0, 1)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")
        d = group["delta"]
        if isinstance(d, Tensor):
            if not isinstance(alpha, Tensor) or d.shape != alpha.shape:
                raise ValueError("delta as a tensor needs alpha as a tensor of the same shape (one per "
                                 "problem)")
            if not bool(torch.isfinite(d).all()) or bool((d < 1).any()):
                raise ValueError("delta must be >= 1 for every problem (1 keeps that problem's α constant)")
        elif isinstance(d, bool) or not isinstance(d, (int, float)) or not (math.isfinite(d) and d >= 1):
            raise ValueError(f"delta={d!r}: pass Algorithm 1's factor δ > 1 (δ = 1: constant α)")
        t = group["epochs"]
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"epochs={t!r}: pass the number of training epochs T >= 1, or None")
        if group["pairs"]:
            params = group["params"]
            if len(params) % 2:
                raise ValueError("a group with pairs=True needs (m, w) pairs: an even number of parameters "
                                 "m1, w1, m2, w2, ... (use pilot_param_groups(model))")
            for m, w in zip(params[0::2], params[1::2], strict=True):
                if m.shape != w.shape:
                    raise ValueError(f"pair shapes differ: m {tuple(m.shape)} vs w {tuple(w.shape)}; pass "
                                     "(m, w) pairs in order")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self._check_group(group)
        group.setdefault("pilot_epoch", 0)
        group.setdefault("prev_score", -math.inf)

    # -- masks ---------------------------------------------------------------------------------

    @torch.no_grad()
    def set_masks(self, masks: Mapping[Tensor, Tensor | None]) -> None:
        """Attach 0/1 masks {param: mask (param's shape)}: zero the masked entries of the parameter and of
        its momentum buffer now and after every step. A None mask removes the parameter's mask."""
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for p, mask in masks.items():
            if id(p) not in known:
                raise ValueError("set_masks got a tensor that is not a parameter of this optimizer")
            if mask is None:
                self.state[p].pop("mask", None)
                continue
            if tuple(mask.shape) != tuple(p.shape):
                raise ValueError(f"mask shape {tuple(mask.shape)} != parameter shape {tuple(p.shape)}")
            m = mask.detach().to(device=p.device, dtype=p.dtype)
            if not bool(((m == 0) | (m == 1)).all()):
                raise ValueError("masks must be 0/1 (1 = kept)")
            self.state[p]["mask"] = m
            p.mul_(m)
            buf = self.state[p].get("momentum_buffer")
            if buf is not None:
                buf.mul_(m)

    # -- one step -------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Any = None) -> Tensor | None:
        """One optimizer step (SGD with PILoT's penalty); `closure` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, bufs, masks = [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("PILoT does not support sparse gradients")
                state = self.state[p]
                params.append(p)
                grads.append(p.grad)
                bufs.append(state.get("momentum_buffer"))
                masks.append(state.get("mask"))
            foreach = group["foreach"]
            if foreach is None:
                foreach = bool(params) and params[0].is_cuda
            pilot_step(params, grads, bufs, masks, lr=group["lr"], alpha=group["alpha"],
                       weight_decay=group["weight_decay"], momentum=group["momentum"],
                       dampening=group["dampening"], nesterov=group["nesterov"], decoupled=group["decoupled"],
                       foreach=foreach)
            if group["momentum"] != 0:
                for p, buf in zip(params, bufs, strict=True):
                    self.state[p]["momentum_buffer"] = buf
        return loss

    # -- Algorithm 1 ------------------------------------------------------------------------------

    def pair_groups(self) -> list[dict[str, Any]]:
        """The param groups holding (m, w) pairs."""
        return [g for g in self.param_groups if g["pairs"]]

    @staticmethod
    @torch.no_grad()
    def _group_l1(group: dict[str, Any]) -> Tensor:
        """‖m ⊙ w‖_1 of a pairs group: a 0-d tensor, or (S,) per problem when its α is a tensor."""
        ps = group["params"]
        rowwise = isinstance(group["alpha"], Tensor)
        total = torch.zeros(())
        for m, w in zip(ps[0::2], ps[1::2], strict=True):
            a = (m * w).abs()
            total = total + (a.reshape(a.shape[0], -1).sum(1) if rowwise else a.sum()).detach().cpu()
        return total

    def product_l1(self) -> float:
        """‖m ⊙ w‖_1 over every pairs group (the whole network's, as Algorithm 1 checks it)."""
        return float(sum(float(self._group_l1(g).sum()) for g in self.pair_groups()))

    def update_alpha(self, score: float | Tensor | Sequence[float],
                     l1: float | Tensor | None = None) -> list[Alpha]:
        """Algorithm 1's end-of-epoch update of every pairs group's α; returns the new α of each.

        score: the finished epoch's training accuracy (any "higher is better" fit measure); for a group
        with a tensor α (S,), one score per problem (S,). l1: ‖m ⊙ w‖_1; None computes it (the whole
        network's for float α, per problem for a tensor α). Epoch k counts from 1:
        α ← δ α if score ≥ previous score, ‖m ⊙ w‖_1 ≥ K and k ≤ T/2; otherwise α ← α/δ.
        """
        groups = self.pair_groups()
        if not groups:
            raise ValueError("no param group has pairs=True: build the groups with pilot_param_groups(model)")
        scores = torch.as_tensor(score, dtype=torch.float64).detach().cpu()
        if not bool(torch.isfinite(scores).all()):
            raise ValueError(f"score={score!r}: pass the finished epoch's training accuracy (finite)")
        net_l1 = None if l1 is not None else self.product_l1()
        out: list[Alpha] = []
        for g in groups:
            g["pilot_epoch"] += 1
            k, T = g["pilot_epoch"], g["epochs"]
            early = T is None or k <= T / 2
            alpha = g["alpha"]
            if isinstance(alpha, Tensor):
                n = alpha.numel()
                if scores.numel() not in (1, n):
                    raise ValueError(f"score has {scores.numel()} entries for {n} problems: pass one per "
                                     "problem")
                s = scores.reshape(-1).expand(n)
                norm = self._group_l1(g) if l1 is None else torch.as_tensor(l1, dtype=torch.float64).cpu()
                grow = (s >= torch.as_tensor(g["prev_score"], dtype=torch.float64)) \
                    & (norm.to(torch.float64) >= g["threshold"]) & early
                grow = grow.to(alpha.device)
                g["alpha"] = torch.where(grow, alpha * g["delta"], alpha / g["delta"])
                g["prev_score"] = s.clone()
            else:
                if scores.numel() != 1:
                    raise ValueError(f"score has {scores.numel()} entries but the group's alpha is a float: "
                                     "pass one score (the network's training accuracy)")
                s = float(scores)
                norm = net_l1 if l1 is None else float(l1)
                grow = s >= g["prev_score"] and norm >= g["threshold"] and early
                g["alpha"] = alpha * g["delta"] if grow else alpha / g["delta"]
                g["prev_score"] = s
            out.append(g["alpha"])
        return out


# ---------------------------------------------------------------------------------------------
# PILoT on the regression test bench (diagonal linear networks, Sec. 4)


@torch.no_grad()
def regression_accuracy(theta: Tensor, problem: RegressionProblem, tol: float = 0.1) -> Tensor:
    """Share of samples fitted within tol · RMS(y) per problem: theta (S, d) → (S,) in [0, 1].

    The regression stand-in for the training accuracy that Algorithm 1 watches (a sample counts as
    "correct" when its residual is small); 1 for an interpolant.
    """
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol={tol!r}: pass a tolerance > 0 (relative to the RMS of y)")
    residual = torch.einsum("snd,sd->sn", problem.x, theta) - problem.y
    scale = problem.y.square().mean(-1, keepdim=True).sqrt()
    return (residual.abs() <= tol * scale).to(theta.dtype).mean(-1)


@dataclass(frozen=True)
class RegressionArm:
    """One way to train θ = m ⊙ w on the bench: initial α, Algorithm 1's δ (1 = constant α) and the
    imbalance β = m_0² − w_0² of the initialisation (1: PILoT's; 0: spred's balanced init)."""

    name: str
    alpha: float = 0.0
    delta: float = 1.0
    beta: float = 1.0


@dataclass
class ArmsResult:
    """Per arm: the bench's `Trajectory` (metrics (E + 1, S), recorded at the start and after every
    epoch), θ after every epoch `thetas` (E + 1, S, d), and per epoch (E + 1, S) arrays of α (in force
    during the epoch that ends there), of the measured mean m² − w² and of its prediction
    β Π_steps (1 − 2ηα)² (the exact per-step factor, up to the −η²g² term of the loss gradient g)."""

    trajectories: dict[str, Trajectory]
    thetas: dict[str, np.ndarray]
    alpha: dict[str, np.ndarray]
    imbalance: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]


def run_regression_arms(problem: RegressionProblem, arms: Sequence[RegressionArm], theta0: Tensor, *,
                        lr: float, epochs: int, steps_per_epoch: int, tol: float = 0.1) -> ArmsResult:
    """Train every arm on every problem of `problem` side by side (one `DiagonalLinearNetwork` with
    arms × S rows, one `PILoT` optimizer with a per-row α and δ), full batch, from θ_0 = theta0 (S, d).

    After each epoch of `steps_per_epoch` GD steps, `PILoT.update_alpha` runs Algorithm 1 on every row
    with `regression_accuracy(θ, tol)` as the training accuracy (rows with δ = 1 keep their α).
    """
    arms = list(arms)
    if not arms or len({a.name for a in arms}) != len(arms):
        raise ValueError("pass at least one RegressionArm, with distinct names")
    for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r}: pass an integer >= 1")
    s, _, d = problem.shape
    if theta0.shape != (s, d):
        raise ValueError(f"theta0 has shape {tuple(theta0.shape)}: pass one initial θ per problem ({s}, {d})")
    n_arms, dtype, device = len(arms), problem.x.dtype, problem.x.device

    def per_row(values: Sequence[float]) -> Tensor:
        return torch.tensor(values, dtype=dtype, device=device).repeat_interleave(s)

    def stack(t: Tensor) -> Tensor:
        return t.repeat(n_arms, *([1] * (t.ndim - 1)))

    stacked = RegressionProblem(stack(problem.x), stack(problem.y), stack(problem.theta),
                                stack(problem.min_l2), stack(problem.min_l1), problem.k)
    beta = per_row([a.beta for a in arms])
    model = DiagonalLinearNetwork(n_arms * s, d, imbalance=beta[:, None], theta0=stack(theta0), dtype=dtype)
    model = model.to(device)
    opt = PILoT([{"params": [model.m, model.w], "pairs": True}], lr=lr,
                alpha=per_row([a.alpha for a in arms]), delta=per_row([a.delta for a in arms]), epochs=epochs)
    group = opt.param_groups[0]
    used: list[Tensor] = []  # the α in force during each epoch, (rows,) each
    gaps = [(model.m.square() - model.w.square()).mean(-1).detach().cpu()]  # mean m² − w² per row
    thetas = [model.theta.detach().cpu().clone()]

    def end_of_epoch(net: nn.Module, step: int, losses: Tensor) -> None:
        if step % steps_per_epoch == 0:
            used.append(group["alpha"].detach().cpu().clone())
            opt.update_alpha(regression_accuracy(net.theta.detach(), stacked, tol))
            gaps.append((model.m.square() - model.w.square()).mean(-1).detach().cpu())
            thetas.append(net.theta.detach().cpu().clone())

    traj = run_regression(model, stacked, opt, epochs * steps_per_epoch, record_every=steps_per_epoch,
                          callback=end_of_epoch)
    alpha = torch.stack(used).double()  # (E, rows)
    factor = ((1 - 2 * lr * alpha).square() ** steps_per_epoch).cumprod(0)
    beta64 = beta.detach().cpu().double()[None]
    predicted = torch.cat([beta64, beta64 * factor]).numpy()
    measured = torch.stack(gaps).double().numpy()
    alpha_hist = torch.cat([alpha[:1], alpha]).numpy()
    theta_hist = torch.stack(thetas).numpy()
    result = ArmsResult({}, {}, {}, {}, {})
    for i, arm in enumerate(arms):
        rows = slice(i * s, (i + 1) * s)
        metrics = {k: v[:, rows] for k, v in traj.metrics.items()}
        theta = traj.theta[rows] if traj.theta is not None else None
        result.trajectories[arm.name] = Trajectory(traj.steps, metrics, theta)
        result.thetas[arm.name] = theta_hist[:, rows]
        result.alpha[arm.name] = alpha_hist[:, rows]
        result.imbalance[arm.name] = measured[:, rows]
        result.predicted[arm.name] = predicted[:, rows]
    return result


# ---------------------------------------------------------------------------------------------
# PILoT in a training loop, and the one-shot comparison (Sec. 4)


class AlphaSchedule:
    """A `relml.train.fit` callback running Algorithm 1 after every epoch: update_alpha(score(model)).

    score: the training accuracy of the model (one number, or one per problem/member (R,) for a PILoT
    group with a tensor α). `alphas` and `scores` keep the history (α for the next epoch, as returned).
    """

    def __init__(self, optimizer: PILoT, score: Callable[[nn.Module], float | Tensor]) -> None:
        if not isinstance(optimizer, PILoT):
            raise TypeError(f"AlphaSchedule needs a PILoT optimizer, got {type(optimizer).__name__}")
        if not optimizer.pair_groups():
            raise ValueError("the optimizer has no group with pairs=True: use pilot_param_groups(model)")
        self.optimizer, self.score = optimizer, score
        self.alphas: list[Tensor] = []
        self.scores: list[Tensor] = []

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        score = torch.as_tensor(self.score(model)).detach().double().cpu()
        alpha = torch.as_tensor(self.optimizer.update_alpha(score)[0]).detach().double().cpu()
        self.alphas.append(alpha.reshape(-1).clone())
        self.scores.append(score.reshape(-1).clone())
        return {"alpha": float(alpha.mean()), "train_score": float(score.mean())}


@dataclass(frozen=True)
class OneShotRecipe:
    """Training of the one-shot comparison (Sec. 4): both arms train `epochs` with SGD (momentum, optional
    cosine schedule) at `lr`, PILoT at `pilot_lr` (the paper uses twice the baseline's), then each is
    pruned to every sparsity and fine-tuned `finetune_epochs` at `finetune_lr`. PILoT: `alpha` (α_init),
    `delta` (δ), `threshold` (K) and `beta` (m_0² − w_0²) of Algorithm 1."""

    epochs: int
    lr: float
    pilot_lr: float
    alpha: float
    delta: float
    threshold: float = 0.0
    beta: float = 1.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    cosine: bool = False
    finetune_epochs: int = 0
    finetune_lr: float = 0.01
    sparsities: tuple[float, ...] = (0.9,)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r}: pass an integer >= 1")
        for name in ("lr", "pilot_lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r}: pass a learning rate > 0")
        if self.alpha < 0 or self.delta < 1 or self.threshold < 0 or self.beta < 0:
            raise ValueError("pass alpha >= 0, delta >= 1 (Algorithm 1's δ), threshold >= 0 and beta >= 0")
        if not self.sparsities or not all(0 <= s < 1 for s in self.sparsities):
            raise ValueError(f"sparsities={self.sparsities!r}: pass fractions of weights removed in [0, 1)")


def _accuracy(model: nn.Module, data: Batch) -> Tensor:
    """Test accuracy: one per member for an `EnsembleMLP`, else one number."""
    if isinstance(model, EnsembleMLP):
        return model.accuracy(*data)
    return torch.tensor(evaluate(model, data)["acc"])


def compare_one_shot(make_model: Callable[[], nn.Module], train: Batch | Iterable[Batch], train_eval: Batch,
                     test: Batch, recipe: OneShotRecipe, *,
                     loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy
                     ) -> tuple[pd.DataFrame, dict[str, History]]:
    """One-shot magnitude pruning (+ fine-tuning) of a densely trained network versus a PILoT-trained one.

    `make_model()` returns the same initialisation θ_0 for both arms (seed it inside). An `EnsembleMLP`
    trains its R members as R independent runs: pruning per member, PILoT with a tensor α (one Algorithm 1
    schedule per member). PILoT reparameterises θ_0 as m ⊙ w (β), trains with `PILoT`, Algorithm 1 on the
    training accuracy on `train_eval`, and `collapse`s back to θ before pruning.
    train: a tensor pair or an iterable of batches (e.g. augmented CIFAR batches). Returns rows (arm,
    sparsity, finetuned, run, acc: test accuracy) and the two training histories.
    """
    r = recipe
    histories: dict[str, History] = {}
    tables = []
    for arm in ("magnitude", "PILoT"):
        model = make_model()
        stacked = isinstance(model, EnsembleMLP)
        loss = model.loss if stacked else loss_fn

        def train_acc(net: nn.Module) -> Tensor:
            return _accuracy(net, train_eval)

        if arm == "magnitude":
            opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum,
                                                         weight_decay=r.weight_decay)
            callbacks: list[object] = [_Score("train_score", train_acc)]
        else:
            reparameterize(model, r.beta)
            runs = model.members if stacked else 1
            alpha: float | Tensor = torch.full((runs,), float(r.alpha)) if stacked else float(r.alpha)
            if isinstance(alpha, Tensor):
                alpha = alpha.to(next(model.parameters()).device)
            opt = PILoT(pilot_param_groups(model, alpha=alpha, delta=r.delta, threshold=r.threshold,
                                           epochs=r.epochs),
                        lr=r.pilot_lr, momentum=r.momentum, weight_decay=r.weight_decay)
            callbacks = [AlphaSchedule(opt, train_acc)]
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, r.epochs) if r.cosine else None
        histories[arm] = fit(model, train, opt, epochs=r.epochs, loss_fn=loss, batch_size=r.batch_size,
                             scheduler=sched, seed=r.seed, progress=False, callbacks=callbacks, desc=arm)
        collapse(model)
        ft = FineTune(r.finetune_epochs, r.finetune_lr, r.momentum, r.weight_decay, r.batch_size, r.seed + 1)
        table = one_shot_sweep(model, train, r.sparsities, lambda net: _accuracy(net, test), ft,
                               stacked=stacked, loss_fn=loss)
        tables.append(table.assign(arm=arm))
    return pd.concat(tables, ignore_index=True), histories


class _Score:
    """A fit callback recording one number per epoch (the mean of `fn(model)`) under `name`."""

    def __init__(self, name: str, fn: Callable[[nn.Module], Tensor]) -> None:
        self.name, self.fn = name, fn

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        return {self.name: float(torch.as_tensor(self.fn(model)).double().mean())}


def run_one_shot(dataset: str, model: str, width: float, runs: int, recipe: OneShotRecipe,
                 device: torch.device | str = "cpu") -> tuple[pd.DataFrame, dict[str, list[History]]]:
    """`compare_one_shot` on sklearn digits with an MLP 64-w-w-10 (`runs` members of one `EnsembleMLP`),
    or on CIFAR-10/100 with a ResNet-18 / VGG-16 of width multiplier `width` (one network per run,
    standard crop/flip augmentation; files from `relml.data.load_cifar`, which raises DataMissing).
    Runs use seeds recipe.seed, recipe.seed + 1, ... Returns the rows (arm, sparsity, finetuned, run,
    acc) and the histories of every run."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs={runs!r}: pass the number of independent runs, an integer >= 1")
    if dataset == "digits":
        if model != "mlp":
            raise ValueError(f"model={model!r}: digits trains the MLP (model='mlp')")
        data = digits(device=device)
        h = int(width)

        def make_mlp() -> nn.Module:
            gen = torch.Generator().manual_seed(recipe.seed)
            return EnsembleMLP([data.x_train.shape[1], h, h, 10], runs, generator=gen).to(device)

        table, hist = compare_one_shot(make_mlp, data.train, data.train, data.test, recipe)
        return table, {k: [v] for k, v in hist.items()}
    if dataset not in ("cifar10", "cifar100") or model not in ("resnet18", "vgg16"):
        raise ValueError(f"dataset={dataset!r}, model={model!r}: pass ('digits', 'mlp') or a CIFAR data set "
                         "('cifar10', 'cifar100') with 'resnet18' or 'vgg16'")
    x_tr, y_tr, x_te, y_te = load_cifar(dataset)
    classes = int(y_tr.max()) + 1
    test = (x_te.to(device), y_te.to(device))
    train_eval = (x_tr[:10_000].to(device), y_tr[:10_000].to(device))  # Algorithm 1's training accuracy
    tables: list[pd.DataFrame] = []
    hists: dict[str, list[History]] = {"magnitude": [], "PILoT": []}
    for run in range(runs):
        seed = recipe.seed + run

        def make_conv(seed: int = seed) -> nn.Module:
            torch.manual_seed(seed)
            return conv_net(model, classes, width).to(device)

        batches = AugmentedBatches(x_tr, y_tr, recipe.batch_size, seed=seed, device=device)
        run_recipe = dataclasses.replace(recipe, seed=seed)
        table, hist = compare_one_shot(make_conv, batches, train_eval, test, run_recipe)
        tables.append(table.assign(run=run))
        for k, v in hist.items():
            hists[k].append(v)
    return pd.concat(tables, ignore_index=True), hists
