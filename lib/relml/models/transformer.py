r"""A tiny vision transformer for 8×8 digits: image rows as tokens plus a class token; members stacked.

The image x (batch, 64) is read as T = 8 tokens (its rows) of 8 pixels. Each token is embedded linearly,
a learned class token is prepended and learned position embeddings added, then `layers` pre-norm
blocks

.. math::
    h \leftarrow h + \mathrm{MHA}(\mathrm{LN}(h)),\qquad
    h \leftarrow h + W_2\,\mathrm{GELU}(W_1\,\mathrm{LN}(h))

and a linear head on the normalised class token give the logits (a ViT, Dosovitskiy et al. 2021, at toy
size: the HORST note's quick scale, d = 32, 4 heads, 2 layers).

Like `relml.models.EnsembleMLP` the model holds R independent members with stacked parameters (a linear
layer's weight is (R, in, out)), evaluated with one batched matmul per layer; members never interact,
so with an elementwise optimizer training them together is exactly training R separate models.
`prunable_weights()` lists the linear layers' weights (embedding projection, attention, MLP, head): the
weights that gradual pruning and HORST's hyperbolic step act on; LayerNorms, biases, the class token and
position embeddings are left out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relml.models.mlp import EnsembleMLP

__all__ = ["StackedLayerNorm", "StackedLinear", "TinyTransformer"]


class StackedLinear(nn.Module):
    """R independent linear maps: x (R, N, in) ↦ x W + b with W: (R, in, out), b: (R, out)."""

    def __init__(self, members: int, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, d_in, d_out))
        self.bias = nn.Parameter(torch.empty(members, d_out))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """LeCun normal weights N(0, 1/in), zero biases."""
        std = 1.0 / math.sqrt(self.weight.shape[1])
        self.weight.copy_(torch.randn(self.weight.shape, generator=generator) * std)
        self.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)


class StackedLayerNorm(nn.Module):
    """LayerNorm over the last dimension with a per-member affine map: weight, bias (R, d)."""

    def __init__(self, members: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(members, dim))
        self.bias = nn.Parameter(torch.zeros(members, dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:  # x: (R, N, d)
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(self.bias.unsqueeze(1), x, self.weight.unsqueeze(1))


class _Block(nn.Module):
    def __init__(self, members: int, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = StackedLayerNorm(members, dim)
        self.qkv = StackedLinear(members, dim, 3 * dim)
        self.proj = StackedLinear(members, dim, dim)
        self.norm2 = StackedLayerNorm(members, dim)
        self.fc1 = StackedLinear(members, dim, hidden)
        self.fc2 = StackedLinear(members, hidden, dim)

    def forward(self, h: Tensor) -> Tensor:  # h: (R, B, T, d)
        r, b, t, d = h.shape
        flat = h.reshape(r, b * t, d)
        dh = d // self.heads
        qkv = self.qkv(self.norm1(flat)).reshape(r * b, t, 3, self.heads, dh)
        # (3, R·B·heads, T, d_head), contiguous so that the products below are plain batched matmuls
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, r * b * self.heads, t, dh).unbind(0)
        # explicit softmax(q kᵀ/√d_h) v: with 9 tokens this is several times faster on the CPU than SDPA's
        # kernel, and an exp-normalise softmax faster than torch.softmax over a last dimension of 9
        scores = torch.bmm(q, k.transpose(1, 2)).mul_(dh**-0.5)
        weights = (scores - scores.amax(-1, keepdim=True).detach()).exp()
        weights = weights / weights.sum(-1, keepdim=True)
        att = torch.bmm(weights, v).reshape(r * b, self.heads, t, dh).transpose(1, 2).reshape(r, b * t, d)
        flat = flat + self.proj(att)
        flat = flat + self.fc2(F.gelu(self.fc1(self.norm2(flat))))
        return flat.reshape(r, b, t, d)


class TinyTransformer(nn.Module):
    """R stacked tiny ViTs on 8×8 images (module docstring).

    x: (batch, 64) or (batch, 8, 8) → logits (R, batch, classes). `loss` sums the members' mean
    cross-entropies (each member's gradient is that of its own loss), `accuracy` gives (R,).
    """

    def __init__(self, members: int = 1, dim: int = 32, heads: int = 4, layers: int = 2, mlp_ratio: int = 2,
                 tokens: int = 8, token_dim: int = 8, classes: int = 10,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, value in (("members", members), ("dim", dim), ("heads", heads), ("layers", layers),
                            ("mlp_ratio", mlp_ratio), ("tokens", tokens), ("token_dim", token_dim),
                            ("classes", classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: pass a positive integer")
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}: pass dim = heads · d_head")
        self.members, self.tokens, self.token_dim = members, tokens, token_dim
        self.embed = StackedLinear(members, token_dim, dim)
        self.cls_token = nn.Parameter(torch.zeros(members, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(members, tokens + 1, dim))
        self.blocks = nn.ModuleList(_Block(members, dim, heads, mlp_ratio * dim) for _ in range(layers))
        self.norm = StackedLayerNorm(members, dim)
        self.head = StackedLinear(members, dim, classes)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """LeCun normal linear weights, zero biases, N(0, 0.02²) class token and position embeddings."""
        for module in self.modules():
            if isinstance(module, StackedLinear):
                module.reset_parameters(generator)
            elif isinstance(module, StackedLayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        self.cls_token.copy_(0.02 * torch.randn(self.cls_token.shape, generator=generator))
        self.pos_embedding.copy_(0.02 * torch.randn(self.pos_embedding.shape, generator=generator))

    def prunable_weights(self) -> list[nn.Parameter]:
        """The linear layers' weights, (R, in, out) each, in forward order."""
        return [m.weight for m in self.modules() if isinstance(m, StackedLinear)]

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        if x.shape[1:] not in ((self.tokens * self.token_dim,), (self.tokens, self.token_dim)):
            raise ValueError(f"x has shape {tuple(x.shape)}: pass (batch, {self.tokens * self.token_dim}) "
                             f"or (batch, {self.tokens}, {self.token_dim})")
        tok = x.reshape(1, b * self.tokens, self.token_dim).expand(self.members, -1, -1)
        h = self.embed(tok).reshape(self.members, b, self.tokens, -1)
        cls = self.cls_token.unsqueeze(1).expand(-1, b, -1, -1)
        h = torch.cat([cls, h], dim=2) + self.pos_embedding.unsqueeze(1)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h[:, :, 0]))

    # the same per-member loss and accuracy as the MLP ensemble: out (R, batch, classes)
    loss = staticmethod(EnsembleMLP.loss)
    accuracy = EnsembleMLP.accuracy
