"""Multi-layer perceptrons: one `MLP`, and `EnsembleMLP`, R independent MLPs trained as one model.

`EnsembleMLP` stacks the weights of R members, layer l as W_l: (R, in, out), b_l: (R, out), and runs
all members with one batched matmul per layer: x_{l+1} = σ(x_l W_l + b_l), x_l: (R, batch, in) (this
layout keeps the weight gradients contiguous, so masking them costs one pass). Its loss is the sum of
the members' losses, so each member's gradient is exactly the gradient of its own loss; with an
elementwise optimizer (Adam, SGD) training the ensemble is mathematically the same as training R
separate MLPs on the same batches, only faster (one bmm instead of R small matmuls). Masks
(`relml.sparse.MaskCallback`) apply per member because they have the same stacked shapes.

`norm=True` adds batch normalisation after every hidden layer's affine map, per member and unit (the
BN of the papers' ResNets, for MLPs): learnable γ (`norm_weights`), β (`norm_biases`), running statistics
for evaluation. These are not pruned: `prunable_weights()` is the weight matrices only.

Initialisation (both classes): He/Kaiming normal, W ~ N(0, 2/fan_in), biases zero, the base of the
random-pruning paper's code (`ER_DST`, `init-method normal`). Passing per-layer densities p_l gives
its `ER_init` variant W ~ N(0, 2/(p_l fan_in)): a unit of a random layer with density p_l has on
average p_l fan_in inputs, so this keeps the forward signal variance of the dense He init.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "identity": lambda x: x,
}


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    try:
        out = [int(s) for s in sizes]
    except TypeError:
        raise ValueError(f"sizes={sizes!r}: pass layer widths, e.g. [64, 256, 256, 10]") from None
    if len(out) < 2 or min(out) < 1 or any(o != s for o, s in zip(out, sizes, strict=True)):
        raise ValueError(f"sizes={sizes!r}: pass at least two positive integer widths, e.g. [64, 256, 10]")
    return out


def _check_activation(activation: str) -> Callable[[Tensor], Tensor]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r}: pass one of {', '.join(map(repr, ACTIVATIONS))}")
    return ACTIVATIONS[activation]


def _init_scale(fan_in: int, density: Tensor | float) -> Tensor | float:
    """He std sqrt(2 / (p fan_in)); p = 1 is the dense He init."""
    if isinstance(density, Tensor):
        if not bool(((density > 0) & (density <= 1)).all()):
            raise ValueError("densities must lie in (0, 1]: pass the per-layer densities of the masks")
        return torch.sqrt(2.0 / (density * fan_in))
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density={density!r}: pass a per-layer density in (0, 1]")
    return math.sqrt(2.0 / (density * fan_in))


class MLP(nn.Module):
    """x ↦ W_L σ(… σ(W_1 x + b_1) …) + b_L with widths `sizes` = [d_in, h_1, …, d_out].

    x: (batch, d_in) → (batch, d_out). Init: He normal (see module docstring).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.sizes = _check_sizes(sizes)
        self.activation = activation
        self._act = _check_activation(activation)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:],
                                                                    strict=True))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None,
                         densities: Sequence[float] | None = None) -> None:
        """He normal weights (scaled by 1/sqrt(p_l) when per-layer `densities` are given), zero biases."""
        dens = [1.0] * len(self.layers) if densities is None else list(densities)
        if len(dens) != len(self.layers):
            raise ValueError(f"got {len(dens)} densities for {len(self.layers)} layers: pass one per layer")
        for layer, p in zip(self.layers, dens, strict=True):
            std = _init_scale(layer.in_features, float(p))
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            layer.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self._act(x)
        return x


class EnsembleMLP(nn.Module):
    """R independent MLPs of widths `sizes`, evaluated together with one batched matmul per layer.

    weights[l]: (R, in_l, out_l), biases[l]: (R, out_l). forward: x (batch, d_in) shared by all members,
    or x (R, batch, d_in) one input per member → (R, batch, d_out). `loss` sums the members' mean
    cross-entropies, so member r's gradient equals that of its own loss (see module docstring).
    """

    def __init__(self, sizes: Sequence[int], members: int, activation: str = "relu",
                 generator: torch.Generator | None = None, norm: bool = False, momentum: float = 0.1) -> None:
        super().__init__()
        if not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ValueError(f"members={members!r}: pass the number of ensemble members, an integer >= 1")
        self.sizes = _check_sizes(sizes)
        self.members = members
        self.activation = activation
        self._act = _check_activation(activation)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(members, a, b)) for a, b in pairs)
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(members, b)) for _, b in pairs)
        self.norm, self.momentum = bool(norm), momentum
        hidden = self.sizes[1:-1] if norm else []
        self.norm_weights = nn.ParameterList(nn.Parameter(torch.ones(members, h)) for h in hidden)
        self.norm_biases = nn.ParameterList(nn.Parameter(torch.zeros(members, h)) for h in hidden)
        for i, h in enumerate(hidden):
            self.register_buffer(f"running_mean_{i}", torch.zeros(members, h))
            self.register_buffer(f"running_var_{i}", torch.ones(members, h))
        self.reset_parameters(generator)

    def prunable_weights(self) -> list[nn.Parameter]:
        """The weight matrices (R, in, out): what masks and pruning apply to (not biases, not BN)."""
        return list(self.weights)

    @property
    def member_shapes(self) -> list[tuple[int, int]]:
        """Each member's weight shapes [(in_l, out_l)] (for the allocators, which need only the sizes)."""
        return [(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None,
                         densities: np.ndarray | Tensor | None = None) -> None:
        """He normal weights, zero biases; `densities` (R, L) scales member r's layer l by 1/sqrt(p_rl)."""
        L = len(self.weights)
        dens = torch.ones(self.members, L) if densities is None else torch.as_tensor(densities).float()
        if tuple(dens.shape) != (self.members, L):
            raise ValueError(f"densities has shape {tuple(dens.shape)}: pass (members, layers) = "
                             f"({self.members}, {L})")
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            std = _init_scale(w.shape[1], dens[:, i])
            w.copy_(torch.randn(w.shape, generator=generator) * std[:, None, None])
            b.zero_()
        for i, (g, beta) in enumerate(zip(self.norm_weights, self.norm_biases, strict=True)):
            g.fill_(1.0)
            beta.zero_()
            getattr(self, f"running_mean_{i}").zero_()
            getattr(self, f"running_var_{i}").fill_(1.0)

    def _batch_norm(self, x: Tensor, i: int) -> Tensor:
        """BN of layer i's pre-activations x (R, batch, h) over the batch, per member and unit: torch's
        fused batch norm over the R·h channels of x laid out as (batch, R·h); the running statistics
        (R, h) are updated in place through flat views."""
        r, b, h = x.shape
        flat = x.transpose(0, 1).reshape(b, r * h)
        out = F.batch_norm(flat, getattr(self, f"running_mean_{i}").view(-1),
                           getattr(self, f"running_var_{i}").view(-1), self.norm_weights[i].view(-1),
                           self.norm_biases[i].view(-1), self.training, self.momentum, 1e-5)
        return out.reshape(b, r, h).transpose(0, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(0).expand(self.members, *x.shape)
        if x.ndim != 3 or x.shape[0] != self.members or x.shape[2] != self.sizes[0]:
            raise ValueError(f"x has shape {tuple(x.shape)}: pass (batch, {self.sizes[0]}) or "
                             f"({self.members}, batch, {self.sizes[0]})")
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b.unsqueeze(1), x, w)
            if i < last:
                x = self._act(self._batch_norm(x, i) if self.norm else x)
        return x

    @staticmethod
    def loss(out: Tensor, y: Tensor) -> Tensor:
        """Σ_r mean_b CE(out[r, b], y[b]): out (R, batch, classes), y (batch,) → scalar."""
        R, B, C = out.shape
        return F.cross_entropy(out.reshape(R * B, C), y.repeat(R), reduction="sum") / B

    @torch.no_grad()
    def accuracy(self, x: Tensor, y: Tensor) -> Tensor:
        """Each member's accuracy on (x (n, d_in), y (n,)): tensor (R,)."""
        was = self.training
        self.eval()
        acc = (self(x).argmax(-1) == y).float().mean(1)
        self.train(was)
        return acc

    @torch.no_grad()
    def member(self, r: int) -> MLP:
        """A standalone `MLP` holding a copy of member r's parameters."""
        if not 0 <= r < self.members:
            raise ValueError(f"r={r}: pass a member index in [0, {self.members})")
        if self.norm:
            raise ValueError("member() copies plain MLPs; an ensemble with norm=True has no MLP counterpart")
        mlp = MLP(self.sizes, self.activation)
        for layer, w, b in zip(mlp.layers, self.weights, self.biases, strict=True):
            layer.weight.copy_(w[r].T)
            layer.bias.copy_(b[r])
        return mlp

    @classmethod
    @torch.no_grad()
    def from_mlps(cls, mlps: Sequence[MLP]) -> EnsembleMLP:
        """Stack MLPs of equal sizes and activation into one ensemble (parameters copied)."""
        if not mlps or len({(tuple(m.sizes), m.activation) for m in mlps}) != 1:
            raise ValueError("pass a non-empty list of MLPs with the same sizes and activation")
        ens = cls(mlps[0].sizes, len(mlps), mlps[0].activation)
        for i, (w, b) in enumerate(zip(ens.weights, ens.biases, strict=True)):
            w.copy_(torch.stack([m.layers[i].weight.T for m in mlps]))
            b.copy_(torch.stack([m.layers[i].bias for m in mlps]))
        return ens


class MemberAccuracy:
    """A `relml.train.fit` callback recording each ensemble member's accuracy after every epoch.

    Adds {"<prefix>_<r>": accuracy of member r on (x (n, d_in), y (n,))} to the epoch's record.
    """

    def __init__(self, x: Tensor, y: Tensor, prefix: str = "acc") -> None:
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"pass x (n, d_in) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}")
        self.x, self.y, self.prefix = x, y, prefix

    def on_epoch_end(self, model: nn.Module, epoch: int) -> dict[str, float]:
        if not isinstance(model, EnsembleMLP):
            raise TypeError(f"MemberAccuracy needs an EnsembleMLP, got {type(model).__name__}")
        acc = model.accuracy(self.x, self.y).tolist()
        return {f"{self.prefix}_{r}": a for r, a in enumerate(acc)}
