"""Mixtures of experts under feature noise (Sun, Nittala, Burkholz, ICML 2026, arXiv 2601.14792).

The paper compares, at an equal number of parameters, a dense network with a sparsely activated
mixture of experts (MoE) on inputs with a latent modular structure corrupted by feature noise, and
argues that sparse activation filters the noise. This module holds the pieces of that comparison.

Data (`modular_task`, `ModularTask.sample`): a block-diagonal noisy linear regression. The input has
K blocks of m features (d = K m); each sample belongs to one latent module c ~ Unif{0..K-1}, its
clean signal lives in block c, z_c ~ N(0, I_m) (other blocks 0), the target is y = W* z with the
block-diagonal W* = diag(A_1, ..., A_K) (A_k orthogonal, so E|y|² = m), and the model only sees
the noisy features x = z + σ ξ, ξ ~ N(0, I_d) on every coordinate.

Models: `MixtureOfExperts`, E two-layer experts x ↦ W2_e φ(W1_e x) stored as batched weights, run
with one batched matmul per layer over the samples routed to them, behind a top-k router that is
learned (softmax over logits of the features, with the Switch load-balancing loss) or an oracle told
each sample's module; `DenseFFN`, the network x ↦ W2 φ(W1 x) every sample uses in full. Both hold
R independent replicas (a leading weight dimension, inputs (n, R, d)), so that all seeds and noise
levels of an experiment train as one model: with Adam, which is elementwise, that is the same as R
separate trainings, only faster.

Iso-parameter matching: `count_parameters`, `moe_parameter_count` and `iso_dense_width` give the
dense width whose parameter count equals the MoE's exactly (router included).

Closed forms (`population_error`): among linear maps the population-optimal dense one is
W*/(1 + Kσ²), and the optimal expert of module c is A_c/(1 + σ²) on block c and 0 elsewhere, so the
relative test errors are Kσ²/(1 + Kσ²) (dense) and σ²/(1 + σ²) (oracle MoE): the dense map keeps
weight on every block and absorbs the noise of all K blocks, the routed expert that of one.

The data model is our reading of the paper's "block-diagonal noisy linear regression" (from its
abstract and summaries; the section with its exact formulas and hyperparameters was not available).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.train import fit

ACTIVATIONS = ("identity", "relu")
ROUTERS = ("learned", "oracle")
ROUTER_FEATURES = ("square", "linear")
DISPATCH = ("sparse", "masked")
ARMS = ("dense", "moe_oracle", "dense_learned", "moe_learned")


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r}: pass a positive integer")
    return int(value)


def _nonnegative(name: str, value: object) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"{name}={value!r}: pass a finite number >= 0")
    return float(value)


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(0 if seed is None else int(seed))


# ---------------------------------------------------------------------------------------------
# data: block-diagonal noisy linear regression with a latent module per sample


class ModularBatch(NamedTuple):
    """Samples of the modular task: x noisy input, y target, module int64, clean the signal z.

    Shapes x, y, clean: (n, d), module: (n,); or stacked replicas (`stack_batches`): (n, R, d), (n, R).
    """

    x: Tensor
    y: Tensor
    module: Tensor
    clean: Tensor


@dataclass(frozen=True)
class ModularTask:
    """The teacher of the modular regression: y = W* z with W* = diag(A_1, ..., A_K).

    blocks: (K, m, m). A sample of module c has z_c ~ N(0, I_m) in block c and zeros elsewhere; the
    observed input is x = z + σ ξ with ξ ~ N(0, I_d) on all d = K m features.
    """

    blocks: Tensor

    def __post_init__(self) -> None:
        b = self.blocks
        if b.ndim != 3 or b.shape[1] != b.shape[2] or not bool(torch.isfinite(b).all()):
            raise ValueError(f"blocks has shape {tuple(b.shape)}: pass finite (modules, m, m) matrices")

    @property
    def modules(self) -> int:
        return self.blocks.shape[0]

    @property
    def block_size(self) -> int:
        return self.blocks.shape[1]

    @property
    def dim(self) -> int:
        return self.modules * self.block_size

    def weight(self) -> Tensor:
        """The block-diagonal teacher W*: (d, d)."""
        return torch.block_diag(*self.blocks)

    def target(self, clean: Tensor) -> Tensor:
        """y = W* z for clean signals z: (n, d) → (n, d)."""
        if clean.ndim != 2 or clean.shape[1] != self.dim:
            raise ValueError(f"clean has shape {tuple(clean.shape)}: pass (n, {self.dim})")
        return clean @ self.weight().T

    def sample(self, n: int, sigma: float, seed: int | torch.Generator | None = 0) -> ModularBatch:
        """n samples, modules uniform on {0..K-1}, feature noise of std σ on every coordinate."""
        n = _positive_int("n", n)
        sigma = _nonnegative("sigma", sigma)
        g = _generator(seed)
        K, m = self.modules, self.block_size
        module = torch.randint(0, K, (n,), generator=g)
        clean = torch.zeros(n, K, m)
        clean[torch.arange(n), module] = torch.randn(n, m, generator=g)
        clean = clean.reshape(n, self.dim)
        return ModularBatch(add_feature_noise(clean, sigma, g), self.target(clean), module, clean)


def modular_task(modules: int, block_size: int, seed: int = 0) -> ModularTask:
    """A teacher with K = `modules` random orthogonal (Haar) blocks of size m = `block_size`."""
    K, m = _positive_int("modules", modules), _positive_int("block_size", block_size)
    g = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(K, m, m, generator=g))
    # QR alone is not Haar distributed; fixing the signs of R's diagonal makes it so
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2)).unsqueeze(1)
    return ModularTask(q)


def add_feature_noise(x: Tensor, sigma: float, seed: int | torch.Generator | None = 0) -> Tensor:
    """x + σ ξ with ξ ~ N(0, I) of x's shape: the feature noise (and the test-time perturbation)."""
    sigma = _nonnegative("sigma", sigma)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf: pass finite features")
    if sigma == 0:
        return x.clone()
    return x + sigma * torch.randn(x.shape, generator=_generator(seed)).to(x)


def stack_batches(batches: Sequence[ModularBatch]) -> ModularBatch:
    """R batches of equal size n as one stacked batch: x, y, clean (n, R, d), module (n, R)."""
    if not batches or len({tuple(b.x.shape) for b in batches}) != 1 or batches[0].x.ndim != 2:
        raise ValueError("pass a non-empty list of unstacked ModularBatch of equal shapes")
    return ModularBatch(*(torch.stack(parts, dim=1) for parts in zip(*batches, strict=True)))


def population_error(modules: int, sigma: float, arch: str, test_sigma: float | None = None) -> float:
    """Relative test error E|ŷ - y|² / E|y|² of the population-optimal linear model of `arch`.

    The model is fitted at training noise σ and tested at noise `test_sigma` (default σ). With
    a = 1/(1 + Kσ²) (dense, W = a W*) or a = 1/(1 + σ²) (oracle MoE, expert c = a A_c on block c)
    and s² the test noise variance, the error is (1 - a)² + a² s² K (dense) or (1 - a)² + a² s² (MoE);
    at s = σ, Kσ²/(1 + Kσ²) and σ²/(1 + σ²).
    """
    K = _positive_int("modules", modules)
    s2 = _nonnegative("sigma", sigma) ** 2
    t2 = s2 if test_sigma is None else _nonnegative("test_sigma", test_sigma) ** 2
    if arch == "dense":
        a = 1.0 / (1.0 + K * s2)
        return (1 - a) ** 2 + a * a * t2 * K
    if arch == "moe":
        a = 1.0 / (1.0 + s2)
        return (1 - a) ** 2 + a * a * t2
    raise ValueError(f"arch={arch!r}: pass 'dense' or 'moe'")


# ---------------------------------------------------------------------------------------------
# models


def _init_std(fan_in: int, activation: str) -> float:
    return math.sqrt((2.0 if activation == "relu" else 1.0) / fan_in)


def _act(x: Tensor, activation: str) -> Tensor:
    return F.relu(x) if activation == "relu" else x


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}: pass one of {', '.join(map(repr, ACTIVATIONS))}")
    return activation


def _stacked(x: Tensor, replicas: int, d: int, name: str = "x") -> Tensor:
    """(n, d) with one replica, or (n, R, d), as (n, R, d); anything else is an error."""
    if x.ndim == 2 and replicas == 1 and x.shape[1] == d:
        return x.unsqueeze(1)
    if x.ndim == 3 and x.shape[1:] == (replicas, d):
        return x
    want = f"(n, {d}) or (n, {replicas}, {d})" if replicas == 1 else f"(n, {replicas}, {d})"
    raise ValueError(f"{name} has shape {tuple(x.shape)}: pass {want}")


class DenseFFN(nn.Module):
    r"""The dense baseline :math:`x \mapsto W_2\,\varphi(W_1 x)`, bias-free like the experts.

    w1: (R, width, d_in), w2: (R, d_out, width) for R replicas; its count width·(d_in + d_out) per
    replica can equal an MoE's exactly. Its hidden units are those of E experts side by side, all
    used by every sample. x: (n, d_in) (R = 1) or (n, R, d_in) → (n, d_out) or (n, R, d_out).
    """

    def __init__(self, d_in: int, d_out: int, width: int, activation: str = "identity", replicas: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.d_in, self.d_out = _positive_int("d_in", d_in), _positive_int("d_out", d_out)
        self.width, self.replicas = _positive_int("width", width), _positive_int("replicas", replicas)
        self.activation = _check_activation(activation)
        self.w1 = nn.Parameter(torch.empty(self.replicas, self.width, self.d_in))
        self.w2 = nn.Parameter(torch.empty(self.replicas, self.d_out, self.width))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """LeCun (identity) or He (ReLU) normal weights."""
        self.w1.copy_(torch.randn(self.w1.shape, generator=generator) * _init_std(self.d_in, self.activation))
        self.w2.copy_(torch.randn(self.w2.shape, generator=generator) * _init_std(self.width, "identity"))

    def forward(self, x: Tensor) -> Tensor:
        x3 = _stacked(x, self.replicas, self.d_in).transpose(0, 1)                 # (R, n, d_in)
        h = _act(torch.bmm(x3, self.w1.transpose(1, 2)), self.activation)
        out = torch.bmm(h, self.w2.transpose(1, 2)).transpose(0, 1)
        return out if x.ndim == 3 else out[:, 0]


def load_balancing_loss(probs: Tensor, chosen: Tensor) -> Tensor:
    r"""Switch-Transformer auxiliary loss :math:`E \sum_e f_e P_e` (Fedus et al. 2022, eq. 4).

    probs: (n, E) or (n, R, E) router probabilities, chosen: (n, k) or (n, R, k) selected experts;
    f_e is the fraction of the n·k assignments sent to e and P_e the mean probability of e. It is 1
    for uniform routing and E when every sample goes to one expert; replicas are averaged.
    """
    if probs.ndim == 2:
        probs, chosen = probs.unsqueeze(1), chosen.unsqueeze(1)
    if probs.ndim != 3 or chosen.ndim != 3 or probs.shape[:2] != chosen.shape[:2]:
        raise ValueError(f"pass probs (n, [R,] E) and chosen (n, [R,] k), got {tuple(probs.shape)} and "
                         f"{tuple(chosen.shape)}")
    E = probs.shape[-1]
    frac = F.one_hot(chosen, E).to(probs).sum(2).mean(0) / chosen.shape[-1]   # (R, E)
    return E * (frac * probs.mean(0)).sum(-1).mean()


class MixtureOfExperts(nn.Module):
    r"""A top-k routed mixture of E two-layer experts with batched weights.

    .. math:: f(x) = \sum_{e \in \mathrm{top}_k(p(x))} g_e(x)\, W_{2,e}\, \varphi(W_{1,e} x)

    Experts w1: (R, E, hidden, d_in), w2: (R, E, d_out, hidden), bias-free, for R replicas. With
    ``dispatch="sparse"`` samples are sorted by expert into a padded (R·E, capacity, d_in) buffer
    (capacity: the busiest expert's load, nothing dropped) and each layer is one `bmm`, so only the
    routed experts run. ``dispatch="masked"`` computes every expert's hidden layer in one `bmm` and
    weights the unchosen ones 0: the same function at the cost of the iso-parameter dense network,
    faster on a CPU at small sizes (no sorting, gathering or scattering).

    Router ``"learned"``: p = softmax(R φ(x)), R: (E, d_in) per replica, φ(x) = x ⊙ x (``"square"``:
    block energies; a zero-mean block is invisible to linear logits) or φ(x) = x (``"linear"``); the
    top-k experts are kept with gates p renormalised over them (k = 1: gate 1). In training mode the
    forward also keeps every expert's hidden layer for the competitive objective `competitive_loss`,
    Σ_e p_e(x) |y - f_e(x)|² (Jacobs, Jordan, Nowlan, Hinton 1991), which tells the router which
    expert fits each sample. (With Switch-style top-1 gating, whose only router gradient goes through
    the chosen expert's gate, the router did not find the modules here.) `aux_loss` holds the Switch
    load-balancing loss of the last forward. Router ``"oracle"``: every sample goes to the expert of
    its module with gate 1 (k = 1); pass ``route`` to `forward`, or append the module id as the
    input's last column (`with_module`) so that the model trains through `relml.train.fit`.

    x: (n, d_in) (R = 1) or (n, R, d_in) (+1 column for the oracle) → (n, d_out) or (n, R, d_out).
    """

    def __init__(self, d_in: int, d_out: int, experts: int, hidden: int, *, top_k: int = 1,
                 router: str = "learned", router_features: str = "square", activation: str = "identity",
                 replicas: int = 1, dispatch: str = "sparse",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.d_in, self.d_out = _positive_int("d_in", d_in), _positive_int("d_out", d_out)
        if dispatch not in DISPATCH:
            raise ValueError(f"dispatch={dispatch!r}: pass one of {', '.join(map(repr, DISPATCH))}")
        self.dispatch = dispatch
        self.experts, self.hidden = _positive_int("experts", experts), _positive_int("hidden", hidden)
        self.top_k, self.replicas = _positive_int("top_k", top_k), _positive_int("replicas", replicas)
        if self.top_k > self.experts:
            raise ValueError(f"top_k={top_k} > experts={experts}: pass top_k <= experts")
        if router not in ROUTERS:
            raise ValueError(f"router={router!r}: pass one of {', '.join(map(repr, ROUTERS))}")
        if router == "oracle" and self.top_k != 1:
            raise ValueError("the oracle router sends each sample to its module's expert: pass top_k=1")
        if router_features not in ROUTER_FEATURES:
            raise ValueError(f"router_features={router_features!r}: pass one of "
                             f"{', '.join(map(repr, ROUTER_FEATURES))}")
        self.router, self.router_features = router, router_features
        self.activation = _check_activation(activation)
        R, E = self.replicas, self.experts
        self.w1 = nn.Parameter(torch.empty(R, E, self.hidden, self.d_in))
        self.w2 = nn.Parameter(torch.empty(R, E, self.d_out, self.hidden))
        self.router_weight = nn.Parameter(torch.empty(R, E, self.d_in)) if router == "learned" else None
        self.aux_loss: Tensor = torch.zeros(())
        self.last_route: Tensor | None = None
        self._all: tuple[Tensor, Tensor] | None = None
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Experts initialised like `DenseFFN` (LeCun/He normal); router weights N(0, 1/d_in)."""
        self.w1.copy_(torch.randn(self.w1.shape, generator=generator) * _init_std(self.d_in, self.activation))
        self.w2.copy_(torch.randn(self.w2.shape, generator=generator) * _init_std(self.hidden, "identity"))
        if self.router_weight is not None:
            self.router_weight.copy_(torch.randn(self.router_weight.shape, generator=generator)
                                     / math.sqrt(self.d_in))

    def route(self, x: Tensor, route: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """x: (n, R, d_in) → chosen experts (n, R, k), gates (n, R, k), probabilities (n, R, E) or None."""
        n, R, _ = x.shape
        if self.router == "oracle":
            if route is None:
                raise ValueError("the oracle router needs each sample's module: pass route (n,) or (n, R), "
                                 "or append it as the last input column (with_module)")
            route = torch.as_tensor(route, device=x.device)
            route = route.long().reshape(n, R) if route.numel() == n * R else route
            if route.shape != (n, R) or bool((route < 0).any()) or bool((route >= self.experts).any()):
                raise ValueError(f"route has shape {tuple(route.shape)}: pass (n, R) = ({n}, {R}) expert ids "
                                 f"in [0, {self.experts})")
            return route.unsqueeze(-1), x.new_ones(n, R, 1), None
        feats = x * x if self.router_features == "square" else x
        logits = torch.bmm(feats.transpose(0, 1), self.router_weight.transpose(1, 2)).transpose(0, 1)
        # written out: torch.softmax is several times slower on a CPU for a short last axis
        expo = (logits - logits.amax(-1, keepdim=True).detach()).exp()
        probs = expo / expo.sum(-1, keepdim=True)
        if self.top_k == 1:
            return probs.argmax(-1, keepdim=True), x.new_ones(n, R, 1), probs
        top, chosen = probs.topk(self.top_k, dim=-1)
        return chosen, top / top.sum(-1, keepdim=True), probs

    def hidden_all(self, x: Tensor) -> Tensor:
        """Every expert's hidden layer on every sample, x: (n, R, d_in) → (R, n, E, hidden), one bmm."""
        n, R, d = x.shape
        w1 = self.w1.reshape(R, self.experts * self.hidden, d)
        h = torch.bmm(x.transpose(0, 1), w1.transpose(1, 2))
        return _act(h, self.activation).reshape(R, n, self.experts, self.hidden)

    def expert_outputs(self, x: Tensor) -> Tensor:
        """Every expert on every sample (dense compute), x: (n, R, d_in) → (n, R, E, d_out)."""
        return torch.einsum("rneh,reoh->nreo", self.hidden_all(x), self.w2)

    def _w2_stacked(self) -> Tensor:
        """w2 as (R, E·hidden, d_out), the experts' second layers side by side."""
        return self.w2.transpose(2, 3).reshape(self.replicas, self.experts * self.hidden, self.d_out)

    def _masked(self, hid: Tensor, chosen: Tensor, gates: Tensor) -> Tensor:
        """Forward from all experts' hidden layers (R, n, E, hidden), unchosen experts weighted 0."""
        R, n, E, _ = hid.shape
        weight = hid.new_zeros(R, n, E).scatter_add(-1, chosen.transpose(0, 1), gates.transpose(0, 1))
        mixed = (hid * weight.unsqueeze(-1)).reshape(R, n, -1)
        return torch.bmm(mixed, self._w2_stacked()).transpose(0, 1)

    def _sparse(self, x: Tensor, chosen: Tensor, gates: Tensor) -> Tensor:
        """Each (sample, slot) assignment runs through its expert only: sort by expert, pad, bmm."""
        n, R, k = chosen.shape
        E, d = self.experts, self.d_in
        flat = (chosen + E * torch.arange(R, device=x.device).view(1, R, 1)).reshape(-1)  # global expert
        token = torch.arange(n * R, device=x.device).repeat_interleave(k)
        order = torch.argsort(flat, stable=True)                  # assignments grouped by expert
        expert, token = flat[order], token[order]
        load = torch.bincount(flat, minlength=R * E)
        slot = torch.arange(n * R * k, device=x.device) - (torch.cumsum(load, 0) - load)[expert]
        buf = x.new_zeros(R * E, int(load.max()), d)
        buf[expert, slot] = x.reshape(n * R, d)[token]
        h = _act(torch.bmm(buf, self.w1.reshape(R * E, self.hidden, d).transpose(1, 2)), self.activation)
        out = torch.bmm(h, self.w2.reshape(R * E, self.d_out, self.hidden).transpose(1, 2))
        contrib = out[expert, slot] * gates.reshape(-1)[order].unsqueeze(1)
        return x.new_zeros(n * R, self.d_out).index_add(0, token, contrib).reshape(n, R, self.d_out)

    def forward(self, x: Tensor, route: Tensor | None = None) -> Tensor:
        if self.router == "oracle" and route is None and x.shape[-1] == self.d_in + 1:
            x, route = x[..., :-1], x[..., -1].round().long()
        x3 = _stacked(x, self.replicas, self.d_in)
        chosen, gates, probs = self.route(x3, route)
        self.last_route = chosen.detach()
        self.aux_loss = x3.new_zeros(()) if probs is None else load_balancing_loss(probs, chosen)
        self._all = None
        if probs is not None and self.training:   # the competitive objective needs every expert
            hid = self.hidden_all(x3)
            self._all = (probs, hid)
            out = self._masked(hid, chosen, gates)
        elif self.dispatch == "masked":
            out = self._masked(self.hidden_all(x3), chosen, gates)
        else:
            out = self._sparse(x3, chosen, gates)
        return out if x.ndim == 3 else out[:, 0]

    def competitive_loss(self, y: Tensor) -> Tensor:
        """Σ_e p_e(x) mean_j (y_j - f_e(x)_j)², averaged over samples and replicas, for the last
        training-mode forward of a learned router (Jacobs et al. 1991, "Adaptive mixtures of local
        experts").

        |y - W2_e h_e|² = |y|² - 2 (W2_eᵀ y)·h_e + h_eᵀ (W2_eᵀ W2_e) h_e is evaluated in the hidden
        space, without forming the E outputs of every sample.
        """
        if self._all is None:
            raise ValueError("competitive_loss needs a training-mode forward of a learned-router MoE first")
        probs, hid = self._all
        R, n, E, h = hid.shape
        yr = _stacked(y, self.replicas, self.d_out, "y").transpose(0, 1)          # (R, n, d_out)
        proj = torch.bmm(yr, self._w2_stacked().transpose(1, 2)).reshape(R, n, E, h)
        gram = self.w2.transpose(2, 3) @ self.w2                                   # (R, E, h, h)
        quad = (torch.einsum("rneh,rehk->rnek", hid, gram) * hid).sum(-1)
        err = ((yr**2).sum(-1, keepdim=True) - 2 * (proj * hid).sum(-1) + quad) / self.d_out
        return (probs.transpose(0, 1) * err).sum(-1).mean()


def with_module(x: Tensor, module: Tensor) -> Tensor:
    """x (..., d) with the module id appended as a last column (..., d + 1): the oracle's input."""
    if module.shape != x.shape[:-1]:
        raise ValueError(f"pass x (..., d) and module of shape x.shape[:-1], got {tuple(x.shape)} and "
                         f"{tuple(module.shape)}")
    return torch.cat([x, module.to(x.dtype).unsqueeze(-1)], dim=-1)


# ---------------------------------------------------------------------------------------------
# parameter counting and iso-parameter matching


def count_parameters(model: nn.Module) -> int:
    """Trainable scalars of one replica of `model` (all of them for a model without replicas)."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total // getattr(model, "replicas", 1)


def moe_parameter_count(d_in: int, d_out: int, experts: int, hidden: int, router: str = "learned") -> int:
    """E·hidden·(d_in + d_out) expert weights, plus E·d_in for a learned router (an oracle has none)."""
    if router not in ROUTERS:
        raise ValueError(f"router={router!r}: pass one of {', '.join(map(repr, ROUTERS))}")
    d_in, d_out = _positive_int("d_in", d_in), _positive_int("d_out", d_out)
    experts, hidden = _positive_int("experts", experts), _positive_int("hidden", hidden)
    return experts * hidden * (d_in + d_out) + (experts * d_in if router == "learned" else 0)


def active_parameter_count(model: nn.Module) -> int:
    """Parameters one sample uses: all of a dense network's; k experts plus the router for an MoE."""
    if isinstance(model, MixtureOfExperts):
        router = model.experts * model.d_in if model.router == "learned" else 0
        return model.top_k * model.hidden * (model.d_in + model.d_out) + router
    return count_parameters(model)


def iso_dense_width(d_in: int, d_out: int, target: int) -> int:
    """The width H of a `DenseFFN` with exactly `target` = H·(d_in + d_out) parameters.

    Raises ValueError when no integer width matches (then change the sizes, e.g. an even E when
    d_in = d_out and the router is learned): iso-parameter means equal counts, not nearly equal.
    """
    d_in, d_out = _positive_int("d_in", d_in), _positive_int("d_out", d_out)
    target = _positive_int("target", target)
    if target % (d_in + d_out):
        raise ValueError(f"no dense width has exactly {target} parameters (width·({d_in} + {d_out}) would "
                         f"need width {target / (d_in + d_out):.2f}): pick sizes whose count divides by "
                         f"{d_in + d_out}")
    return target // (d_in + d_out)


def iso_dense(moe: MixtureOfExperts, generator: torch.Generator | None = None) -> DenseFFN:
    """The `DenseFFN` (same activation and replicas) with exactly the parameter count of `moe`."""
    width = iso_dense_width(moe.d_in, moe.d_out, count_parameters(moe))
    dense = DenseFFN(moe.d_in, moe.d_out, width, moe.activation, moe.replicas, generator)
    if count_parameters(dense) != count_parameters(moe):  # pragma: no cover (iso_dense_width guarantees it)
        raise RuntimeError("parameter counts differ")
    return dense


def build_arm(arm: str, d: int, experts: int, hidden: int, activation: str = "identity", replicas: int = 1,
              dispatch: str = "sparse", generator: torch.Generator | None = None) -> nn.Module:
    """One model of the comparison on d → d: ``"moe_oracle"`` / ``"moe_learned"`` (E experts of width
    `hidden`, top-1) or ``"dense"`` / ``"dense_learned"``, the `DenseFFN` with exactly the parameter
    count of the oracle / learned MoE."""
    if arm not in ARMS:
        raise ValueError(f"arm={arm!r}: pass one of {', '.join(map(repr, ARMS))}")
    router = "oracle" if arm in ("dense", "moe_oracle") else "learned"
    moe = MixtureOfExperts(d, d, experts, hidden, router=router, activation=activation, replicas=replicas,
                           dispatch=dispatch, generator=generator)
    return iso_dense(moe, generator) if arm.startswith("dense") else moe


# ---------------------------------------------------------------------------------------------
# training and evaluation


def _relative(out: Tensor, y: Tensor) -> Tensor:
    """Σ|out - y|² / Σ|y|² per replica: (n, [R,] d) → (R,)."""
    if out.ndim == 2:
        out, y = out.unsqueeze(1), y.unsqueeze(1)
    return ((out - y) ** 2).sum((0, 2)) / (y**2).sum((0, 2))


@dataclass
class _Objective:
    """The loss `fit` minimises: MSE, or for a learned router the competitive loss plus `balance`
    times the load-balancing loss; it records each step's relative error per replica."""

    model: nn.Module
    balance: float
    curve: list[Tensor] = field(default_factory=list)

    def __call__(self, out: Tensor, y: Tensor) -> Tensor:
        self.curve.append(_relative(out.detach(), y))
        model = self.model
        if isinstance(model, MixtureOfExperts) and model._all is not None:
            return model.competitive_loss(y) + self.balance * model.aux_loss
        return F.mse_loss(out, y)


def model_input(model: nn.Module, batch: ModularBatch) -> Tensor:
    """The tensor `model` reads: x, with the module id appended for an oracle-routed MoE."""
    if isinstance(model, MixtureOfExperts) and model.router == "oracle":
        return with_module(batch.x, batch.module)
    return batch.x


def train(model: nn.Module, data: ModularBatch, *, steps: int, lr: float = 0.03,
          batch_size: int | None = None, balance: float = 0.01, seed: int = 0) -> np.ndarray:
    """Train with Adam through `relml.train.fit`; returns the relative training error per step, (steps, R).

    The loss is the MSE (dense, oracle MoE) or the competitive loss + `balance` × load balancing
    (learned router). Replicas' losses are averaged, so with Adam each replica trains as if alone.
    batch_size None: full batch, one step per epoch; the curve is read before each step's update.
    """
    steps = _positive_int("steps", steps)
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr={lr!r}: pass a positive learning rate")
    balance = _nonnegative("balance", balance)
    n = data.x.shape[0]
    bs = n if batch_size is None else _positive_int("batch_size", batch_size)
    per_epoch = math.ceil(n / bs)
    if steps % per_epoch:
        raise ValueError(f"steps={steps} is not a whole number of epochs ({per_epoch} steps each): "
                         "pass a multiple")
    objective = _Objective(model, balance)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    pair = (model_input(model, data), data.y)
    # full batch: a one-batch list, so that `fit` does not copy a shuffled batch every step
    fit(model, [pair] if bs >= n else pair, opt, epochs=steps // per_epoch, loss_fn=objective,
        batch_size=bs, seed=seed, progress=False)
    return torch.stack(objective.curve).cpu().numpy()


@torch.no_grad()
def relative_error(model: nn.Module, data: ModularBatch, extra_noise: float = 0.0,
                   seed: int | torch.Generator | None = 0) -> np.ndarray:
    """Σ|f(x + τ ξ') - y|² / Σ|y|² per replica, (R,) (1 = the zero predictor); τ = `extra_noise` perturbs
    the inputs at test time only."""
    was = model.training
    model.eval()
    x = add_feature_noise(data.x, extra_noise, seed)
    err = _relative(model(model_input(model, data._replace(x=x))), data.y)
    model.train(was)
    return err.cpu().numpy()


@torch.no_grad()
def routing_accuracy(model: MixtureOfExperts, data: ModularBatch) -> np.ndarray:
    """Per replica, the fraction of samples routed to their module's majority expert, (R,).

    Learned experts are a permutation of the modules, so each module counts as handled by the
    expert most of its samples use; 1 means the router keeps the modules apart.
    """
    x3 = _stacked(data.x, model.replicas, model.d_in)
    module = data.module.reshape(x3.shape[0], model.replicas)
    top = model.route(x3, module if model.router == "oracle" else None)[0][..., 0]   # (n, R)
    K = int(module.max()) + 1
    counts = torch.zeros(model.replicas, K, model.experts, device=top.device)
    rep = torch.arange(model.replicas, device=top.device).expand_as(top)
    counts.index_put_((rep, module, top), torch.ones(top.shape, device=top.device), accumulate=True)
    return (counts.max(-1).values.sum(-1) / top.shape[0]).cpu().numpy()


# ---------------------------------------------------------------------------------------------
# the experiment: error vs noise, test-time perturbations, convergence


@dataclass
class SweepResult:
    """Results of `noise_sweep`; arrays per arm, indexed [seed, σ, ...].

    error (S, J): relative test error at the training noise; robust (S, J, T): under extra test-time
    noise τ; curves (S, J, steps): relative training error per step; routing (S, J): routing accuracy
    of the learned router; params / active: parameters per model and per sample.
    """

    seeds: tuple[int, ...]
    sigmas: tuple[float, ...]
    taus: tuple[float, ...]
    modules: int
    error: dict[str, np.ndarray]
    robust: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    routing: np.ndarray
    params: dict[str, int]
    active: dict[str, int]

    def index(self, sigma: float) -> int:
        """Position of the training noise level `sigma` in `sigmas` (ValueError if it was not run)."""
        for j, s in enumerate(self.sigmas):
            if math.isclose(s, float(sigma)):
                return j
        raise ValueError(f"sigma={sigma} was not swept: pass one of {self.sigmas}")


def noise_sweep(*, modules: int, block_size: int, hidden: int, n_train: int, n_test: int,
                sigmas: Sequence[float], taus: Sequence[float], seeds: Sequence[int], steps: int,
                lr: float = 0.03, balance: float = 0.01, arms: Sequence[str] = ARMS,
                activation: str = "identity", device: str | torch.device = "cpu") -> SweepResult:
    """Train every arm at every training noise σ and seed (as replicas of one model); test on fresh data.

    Seed s fixes the teacher (`modular_task`), the training and test sets and the initialisation
    (the same for every σ); every arm sees the same data. Each trained model is also tested with
    extra noise τ ∈ `taus` (the same draw of noise, scaled). Data are drawn on the CPU (so a seed
    gives the same numbers everywhere) and moved to `device` for training.
    """
    sigmas, taus, seeds = tuple(map(float, sigmas)), tuple(map(float, taus)), tuple(map(int, seeds))
    if not sigmas or not seeds:
        raise ValueError("pass at least one noise level and one seed")
    for s in sigmas + taus:
        _nonnegative("sigma/tau", s)
    S, J = len(seeds), len(sigmas)
    trains, tests = [], []
    for seed in seeds:
        task = modular_task(modules, block_size, seed=seed)
        for j, sigma in enumerate(sigmas):
            trains.append(task.sample(n_train, sigma, seed=1_000_003 * seed + 2 * j))
            tests.append(task.sample(n_test, sigma, seed=1_000_003 * seed + 2 * j + 1))
    dev = torch.device(device)
    train_set = ModularBatch(*(t.to(dev) for t in stack_batches(trains)))
    test_set = ModularBatch(*(t.to(dev) for t in stack_batches(tests)))
    d = modules * block_size
    error, robust, curves, params, active = {}, {}, {}, {}, {}
    routing = np.full((S, J), np.nan)
    for arm in arms:
        model = build_arm(arm, d, modules, hidden, activation, S * J, "masked")
        with torch.no_grad():   # replica (seed i, σ j) starts from seed i's initialisation
            for i, seed in enumerate(seeds):
                single = build_arm(arm, d, modules, hidden, activation, 1, "masked",
                                   torch.Generator().manual_seed(seed))
                for full, one in zip(model.parameters(), single.parameters(), strict=True):
                    full[i * J:(i + 1) * J] = one
        model.to(dev)
        params[arm], active[arm] = count_parameters(model), active_parameter_count(model)
        curve = train(model, train_set, steps=steps, lr=lr, balance=balance, seed=seeds[0])
        curves[arm] = curve.T.reshape(S, J, -1)
        error[arm] = relative_error(model, test_set).reshape(S, J)
        perturbed = [relative_error(model, test_set, t, seed=seeds[0] + 1) for t in taus]
        robust[arm] = np.stack(perturbed, -1).reshape(S, J, len(taus)) if taus else np.zeros((S, J, 0))
        if arm == "moe_learned":
            routing = routing_accuracy(model, test_set).reshape(S, J)
    return SweepResult(seeds, sigmas, taus, modules, error, robust, curves, routing, params, active)


def steps_to_reach(curves: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """First step at which each curve (last axis = steps) is <= threshold; steps + 1 if never."""
    below = np.asarray(curves) <= np.asarray(threshold)[..., None]
    return np.where(below.any(-1), below.argmax(-1), below.shape[-1] + 1)
