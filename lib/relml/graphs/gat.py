"""GAT diagnostics and the balanced initialisation of "Are GATs Out of Balance?" (Mustafa, Bojchevski,
Burkholz, NeurIPS 2023, arXiv 2310.07235).

The model is the paper's GAT: GATv2 attention with one weight matrix shared by source and target, one
head, no biases, ReLU between layers (the official runs use PyG's `GATv2Conv(share_weights=True,
bias=False)`). Layer l maps h^{l-1} (n, d_{l-1}) to

    h^l_i = φ( Σ_{j ∈ N(i) ∪ {i}} α^l_ij W^l h^{l-1}_j ),
    α^l_ij = softmax_j( a^lᵀ LeakyReLU_{0.2}(W^l h^{l-1}_i + W^l h^{l-1}_j) ),

with W^l: (d_l, d_{l-1}) and a^l: (d_l,), φ = ReLU for hidden layers and the identity for the last.

Conservation law (the paper's main theorem). Rescaling neuron i of hidden layer l, W^l[i,:] → λW^l[i,:],
a^l[i] → a^l[i]/λ, W^{l+1}[:,i] → W^{l+1}[:,i]/λ, leaves the network unchanged (ReLU and LeakyReLU are
positively homogeneous, there are no biases). Differentiating at λ = 1 gives, for every loss,

    ⟨W^l[i,:], ∇_{W^l[i,:]} L⟩ − a^l[i] ∂L/∂a^l[i] = ⟨W^{l+1}[:,i], ∇_{W^{l+1}[:,i]} L⟩,

so under gradient flow the per-neuron quantity

    c^l_i = ‖W^l[i,:]‖² − a^l[i]² − ‖W^{l+1}[:,i]‖²

is constant in time (`conserved_quantity`). A neuron whose incoming norm is much larger than its attention
and outgoing norms cannot change its incoming weights in relative terms, which is why most parameters of
a standard (Xavier) initialised GAT barely move.

Balanced initialisation (the paper's procedure; official code `scaleParams`, scheme "balLtoRconst"
with 2|0|1): attention a^l = 0, every row of W^1 rescaled to squared norm c = 2, then layer by layer each
column of W^l rescaled so that ‖W^l[:,i]‖² = β ‖W^{l-1}[i,:]‖² (β = 1), any surplus (β < 1) put into
a^{l-1}[i]; the last layer's attention stays 0. BalO starts from the looks-linear orthogonal matrices
W^1 = [U; −U], W^l = [[U, −U], [−U, U]], W^L = [U, −U] (U orthogonal), BalX from Xavier-normal ones.
With β = 1 every c^l_i is 0.

Ensembles: every layer and `DeepGAT` take `members=R` to hold R independent networks with weights
(R, d_out, d_in), trained together in one batched computation (the notebook trains all seeds and
initialisations of a depth at once); member r computes exactly what a single network with its weights does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import add_self_loops, remove_self_loops, softmax

if TYPE_CHECKING:
    from torch_geometric.data import Data

SCHEMES = ("xavier", "balx", "balo", "llortho")


def _check_members(members: int | None) -> None:
    if members is not None and (not isinstance(members, int) or isinstance(members, bool) or members < 1):
        raise ValueError(f"members={members!r}: pass None (one network) or an integer >= 1")


class GATv2Layer(MessagePassing):
    r"""GATv2 attention with one shared weight matrix, one head and no bias (Brody et al. 2022, as used
    by Mustafa et al. 2023):

    .. math::
        h'_i = \sum_{j \in N(i) \cup \{i\}} \alpha_{ij} W h_j, \qquad
        \alpha_{ij} = \mathrm{softmax}_j\big(a^\top \mathrm{LeakyReLU}(W h_i + W h_j)\big).

    Equal to PyG's `GATv2Conv(in, out, heads=1, share_weights=True, bias=False)` with `weight` =
    `lin_l.weight` and `att` = `att.view(-1)`. Parameters: weight (out, in), att (out,); with
    `members=R`: weight (R, out, in), att (R, out). forward: x (n, in) or (R, n, in), edge_index (2, E)
    → (n, out) or (R, n, out). No activation: `DeepGAT` applies ReLU between layers.
    """

    def __init__(self, in_channels: int, out_channels: int, members: int | None = None,
                 negative_slope: float = 0.2, add_self_loops: bool = True) -> None:
        super().__init__(aggr="add", node_dim=-2)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channels must be >= 1, got in={in_channels}, out={out_channels}")
        _check_members(members)
        lead = () if members is None else (members,)
        self.in_channels, self.out_channels, self.members = in_channels, out_channels, members
        self.negative_slope, self.add_self_loops = negative_slope, add_self_loops
        self.weight = nn.Parameter(torch.empty(*lead, out_channels, in_channels))
        self.att = nn.Parameter(torch.empty(*lead, out_channels))
        self._alpha: Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal weight and attention (the paper's standard initialisation)."""
        xavier_normal_(self.weight)
        xavier_normal_(self.att, attention=True)

    def forward(self, x: Tensor, edge_index: Tensor, return_attention: bool = False
                ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        if x.size(-1) != self.in_channels:
            raise ValueError(f"x has {x.size(-1)} features; this layer takes {self.in_channels}")
        h = x @ self.weight.transpose(-1, -2)
        if self.add_self_loops:
            edge_index, _ = remove_self_loops(edge_index)
            edge_index, _ = add_self_loops(edge_index, num_nodes=x.size(-2))
        out = self.propagate(edge_index, h=h)
        alpha, self._alpha = self._alpha, None
        if return_attention and alpha is not None:
            return out, (edge_index, alpha.squeeze(-1))
        return out

    def message(self, h_i: Tensor, h_j: Tensor, index: Tensor, ptr: Tensor | None,
                size_i: int | None) -> Tensor:
        score = (F.leaky_relu(h_i + h_j, self.negative_slope) * self.att.unsqueeze(-2)).sum(-1, keepdim=True)
        alpha = softmax(score, index, ptr, size_i, dim=-2)
        self._alpha = alpha
        return alpha * h_j

    def __repr__(self) -> str:
        members = "" if self.members is None else f", members={self.members}"
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}{members})"


class DeepGAT(nn.Module):
    """L `GATv2Layer`s of widths in → hidden → ... → hidden → out with ReLU between them (the paper's
    model). Self loops are added once per forward. forward: x (n, in), edge_index (2, E) →
    logits (n, out), or (R, n, out) with `members=R`.
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, layers: int,
                 members: int | None = None, negative_slope: float = 0.2) -> None:
        super().__init__()
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"layers={layers!r}: pass an integer >= 1")
        _check_members(members)
        self.dims = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.members = members
        self.convs = nn.ModuleList(GATv2Layer(a, b, members, negative_slope, add_self_loops=False)
                                   for a, b in zip(self.dims[:-1], self.dims[1:], strict=True))

    @property
    def layers(self) -> int:
        return len(self.convs)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, _ = add_self_loops(edge_index, num_nodes=x.size(-2))
        for k, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if k < self.layers - 1:
                x = F.relu(x)
        return x

    def weights(self) -> list[Tensor]:
        """W^1..W^L: (..., d_l, d_{l-1})."""
        return [conv.weight for conv in self.convs]

    def attentions(self) -> list[Tensor]:
        """a^1..a^L: (..., d_l)."""
        return [conv.att for conv in self.convs]


# ---------------------------------------------------------------------------------------------
# initialisation


@torch.no_grad()
def xavier_normal_(t: Tensor, generator: torch.Generator | None = None, attention: bool = False) -> Tensor:
    """Xavier-normal in place, per member: a weight (..., out, in) gets std √(2 / (in + out)); an
    attention vector (..., out) std 1/√out (PyG stores it as (1, 1, out), whose fans are both `out`)."""
    fan = 2 * t.size(-1) if attention else t.size(-1) + t.size(-2)
    return t.copy_(torch.randn(t.shape, generator=generator) * math.sqrt(2.0 / fan))


def _orthogonal(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Random (semi-)orthogonal matrices of shape (..., r, c), Haar-distributed as `nn.init.orthogonal_`:
    orthonormal rows when r <= c, orthonormal columns otherwise."""
    *lead, r, c = shape
    big, small = max(r, c), min(r, c)
    q, rr = torch.linalg.qr(torch.randn(*lead, big, small, generator=generator))
    q = q * torch.sign(torch.diagonal(rr, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q if r >= c else q.transpose(-1, -2)


@torch.no_grad()
def looks_linear_orthogonal_(model: DeepGAT, generator: torch.Generator | None = None) -> DeepGAT:
    """Looks-linear orthogonal weights, attention 0 (official `LLortho`): W^1 = [U; −U] (rows stacked),
    hidden W^l = [[U, −U], [−U, U]], last W^L = [U, −U] (columns stacked), each U (semi-)orthogonal of
    half size. At init the network is linear (ReLU(z) − ReLU(−z) = z). Needs even hidden widths."""
    if model.layers < 2:
        raise ValueError("looks-linear initialisation needs at least 2 layers")
    hidden = model.dims[1:-1]
    if any(h % 2 for h in hidden):
        raise ValueError(f"looks-linear initialisation needs even hidden widths, got {hidden}")
    lead = () if model.members is None else (model.members,)
    for k, conv in enumerate(model.convs):
        out, inp = conv.weight.shape[-2:]
        if k == 0:
            u = _orthogonal((*lead, out // 2, inp), generator)
            w = torch.cat([u, -u], dim=-2)
        elif k == model.layers - 1:
            u = _orthogonal((*lead, out, inp // 2), generator)
            w = torch.cat([u, -u], dim=-1)
        else:
            u = _orthogonal((*lead, out // 2, inp // 2), generator)
            w = torch.cat([torch.cat([u, -u], dim=-1), torch.cat([-u, u], dim=-1)], dim=-2)
        conv.weight.copy_(w)
        conv.att.zero_()
    return model


@torch.no_grad()
def balance_(model: DeepGAT, c: float = 2.0, beta: float = 1.0) -> DeepGAT:
    """Rescale `model` in place to a balanced state (the paper's balanced initialisation, left to right):
    ‖W^1[i,:]‖² = c for every row; for l = 2..L, ‖W^l[:,i]‖² = β ‖W^{l-1}[i,:]‖² and
    a^{l-1}[i] = √((1 − β) ‖W^{l-1}[i,:]‖²); a^L = 0. Afterwards every c^l_i = 0."""
    if not (c > 0 and 0 < beta <= 1):
        raise ValueError(f"need c > 0 and 0 < beta <= 1, got c={c}, beta={beta}")
    ws, atts = model.weights(), model.attentions()
    rows = ws[0].pow(2).sum(-1, keepdim=True).clamp_min(1e-30)
    ws[0].mul_((c / rows).sqrt())
    for k in range(1, model.layers):
        incoming = ws[k - 1].pow(2).sum(-1)  # (..., d_{k-1}): rows of the previous layer
        outgoing = ws[k].pow(2).sum(-2).clamp_min(1e-30)  # columns of this layer
        ws[k].mul_((beta * incoming / outgoing).sqrt().unsqueeze(-2))
        atts[k - 1].copy_(((1 - beta) * incoming).sqrt())
    atts[-1].zero_()
    return model


def init_gat_(model: DeepGAT, scheme: str = "xavier", generator: torch.Generator | None = None,
              c: float = 2.0, beta: float = 1.0) -> DeepGAT:
    """Initialise `model` in place: "xavier" (Xavier-normal W and a, the standard), "llortho"
    (looks-linear orthogonal, a = 0), "balx" (Xavier, then `balance_`) or "balo" (looks-linear
    orthogonal, then `balance_`), the paper's BalX and BalO."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if scheme in ("xavier", "balx"):
        for conv in model.convs:
            xavier_normal_(conv.weight, generator)
            xavier_normal_(conv.att, generator, attention=True)
    else:
        looks_linear_orthogonal_(model, generator)
    if scheme in ("balx", "balo"):
        balance_(model, c, beta)
    return model


# ---------------------------------------------------------------------------------------------
# diagnostics


@torch.no_grad()
def neuron_norms(model: DeepGAT) -> list[dict[str, Tensor]]:
    """For each hidden layer l = 1..L−1: the squared norms of its neurons' parameters, each (..., d_l):
    "incoming" ‖W^l[i,:]‖², "attention" a^l[i]², "outgoing" ‖W^{l+1}[:,i]‖²."""
    ws, atts = model.weights(), model.attentions()
    return [{"incoming": ws[k].pow(2).sum(-1), "attention": atts[k].pow(2),
             "outgoing": ws[k + 1].pow(2).sum(-2)} for k in range(model.layers - 1)]


def conserved_quantity(model: DeepGAT) -> Tensor:
    """c^l_i = ‖W^l[i,:]‖² − a^l[i]² − ‖W^{l+1}[:,i]‖² for all hidden neurons, concatenated over the
    hidden layers: (..., Σ_l d_l). Constant under gradient flow (the paper's conservation law)."""
    parts = [n["incoming"] - n["attention"] - n["outgoing"] for n in neuron_norms(model)]
    if not parts:
        raise ValueError("a 1-layer GAT has no hidden neurons, hence no conserved quantity")
    return torch.cat(parts, dim=-1)


def gradient_balance(model: DeepGAT) -> Tensor:
    """The theorem's per-neuron identity evaluated on the current `.grad`s:
    ⟨W^l[i,:], ∇W^l[i,:]⟩ − a^l[i] ∂a^l[i] − ⟨W^{l+1}[:,i], ∇W^{l+1}[:,i]⟩, (..., Σ_l d_l); zero up to
    rounding for any loss (call after `backward()`)."""
    ws, atts = model.weights(), model.attentions()
    if any(p.grad is None for p in ws + atts):
        raise ValueError("call loss.backward() first: some parameters have no gradient")
    parts = []
    for k in range(model.layers - 1):
        inc = (ws[k] * ws[k].grad).sum(-1)
        att = atts[k] * atts[k].grad
        out = (ws[k + 1] * ws[k + 1].grad).sum(-2)
        parts.append(inc - att - out)
    return torch.cat(parts, dim=-1).detach()


def conservation_drift(history: GATHistory) -> dict[str, np.ndarray]:
    """How well a recorded run kept the conservation law, per member (R,) or scalar: "drift" =
    max_{t,i} |c_i(t) − c_i(0)|, "change" = max_{t,i} |‖W^l[i,:]‖²(t) − ‖W^l[i,:]‖²(0)| (how much the
    norms that make up c moved), and their "ratio" (≪ 1 when the law holds)."""
    if history.conserved is None:
        raise ValueError("the run did not record neurons: train with record_neurons=True")
    c, inc = history.conserved, history.norms["incoming"]
    drift = np.abs(c - c[0]).max(axis=(0, -1))
    change = np.abs(inc - inc[0]).max(axis=(0, -1))
    return {"drift": drift, "change": change, "ratio": drift / np.maximum(change, 1e-300)}


def relative_gradients(model: DeepGAT, data: Data) -> dict[str, Tensor]:
    """‖∇W^l‖ / ‖W^l‖ and ‖∇a^l‖ / ‖a^l‖ (NaN for a zero vector) per layer on the training loss, each
    (..., L): how fast each layer can move relative to its size in the first SGD step."""
    model.zero_grad(set_to_none=True)
    member_loss(model(data.x, data.edge_index), data.y, data.train_mask).sum().backward()

    def ratio(ps: list[Tensor], dims: tuple[int, ...]) -> Tensor:
        out = []
        for p in ps:
            assert p.grad is not None
            size = p.detach().pow(2).sum(dims).sqrt()
            grad = p.grad.pow(2).sum(dims).sqrt()
            nan = torch.full_like(size, float("nan"))
            out.append(torch.where(size > 0, grad / size.clamp_min(1e-30), nan))
        return torch.stack(out, dim=-1)

    result = {"weight": ratio(model.weights(), (-2, -1)), "att": ratio(model.attentions(), (-1,))}
    model.zero_grad(set_to_none=True)
    return result


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of every parameter, by name."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def relative_change(before: dict[str, Tensor], after: dict[str, Tensor]) -> dict[str, Tensor]:
    """|θ_after − θ_before| / |θ_before| elementwise for every parameter (NaN where θ_before = 0, e.g. the
    zero attention of balanced initialisations)."""
    out = {}
    for k, b in before.items():
        diff = (after[k] - b).abs()
        out[k] = torch.where(b != 0, diff / b.abs().clamp_min(1e-30), torch.full_like(b, float("nan")))
    return out


def fraction_unchanged(change: dict[str, Tensor], threshold: float = 0.01, members: bool = False,
                       kinds: Sequence[str] = ("weight", "att")) -> Tensor:
    """Share of parameters (of the named kinds, NaN ignored) whose relative change is below `threshold`:
    a scalar, or (R,) per member when the parameters carry a leading member dimension and `members`."""
    chosen = [v for k, v in change.items() if k.rsplit(".", 1)[-1] in kinds]
    if not chosen:
        raise ValueError(f"no parameters of kinds {kinds} in {list(change)}")
    if members:
        flat = torch.cat([v.reshape(v.size(0), -1) for v in chosen], dim=1)
    else:
        flat = torch.cat([v.reshape(-1) for v in chosen]).unsqueeze(0)
    valid = ~flat.isnan()
    small = (flat < threshold) & valid
    frac = small.sum(1).double() / valid.sum(1).clamp_min(1).double()
    return frac if members else frac[0]


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class GATHistory:
    """Per-epoch metrics of a full-batch run, measured on the parameters before each step; arrays are
    (epochs,) for one network and (epochs, R) for R members. `conserved` (epochs, ..., neurons) and
    `norms` hold the conservation-law diagnostics when recorded."""

    train_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    test_acc: np.ndarray
    conserved: np.ndarray | None = None
    norms: dict[str, np.ndarray] = field(default_factory=dict)

    def epochs_to(self, metric: str, level: float) -> np.ndarray:
        """First epoch at which `metric` reaches `level` (per member); the run's length when never."""
        values = getattr(self, metric)
        reached = values >= level if metric.endswith("acc") else values <= level
        first = np.where(reached.any(0), reached.argmax(0), len(values))
        return first

    def test_at_best_val(self) -> np.ndarray:
        """Test accuracy at the epoch of best validation accuracy (the paper's model selection)."""
        best = self.val_acc.argmax(0)
        return np.take_along_axis(self.test_acc, np.expand_dims(best, 0), 0)[0] \
            if self.test_acc.ndim > 1 else self.test_acc[best]


def member_loss(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy on `mask` per member: logits (n, C) → (), or (R, n, C) → (R,)."""
    sel = logits[..., mask, :]
    target = y[mask].expand(sel.shape[:-1])
    return F.cross_entropy(sel.reshape(-1, sel.size(-1)), target.reshape(-1), reduction="none") \
        .reshape(sel.shape[:-1]).mean(-1)


def _accuracy(pred: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    return (pred[..., mask] == y[mask]).double().mean(-1)


def train_gat(model: DeepGAT, data: Data, epochs: int, lr: float = 0.1, record_neurons: bool = False
              ) -> GATHistory:
    """Full-batch SGD (no momentum, no weight decay) on the training nodes' cross-entropy, as the paper's
    runs. The members' losses are summed, so member r follows its own gradient. `record_neurons` stores
    the conserved quantity and neuron norms before every step."""
    if epochs < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    for name in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        if getattr(data, name, None) is None:
            raise ValueError(f"data lacks {name}: pass a graph from relml.data (e.g. contextual_sbm)")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    lead = () if model.members is None else (model.members,)
    rec = {k: torch.zeros(epochs, *lead, dtype=torch.float64) for k in ("loss", "train", "val", "test")}
    conserved, norms = [], {"incoming": [], "attention": [], "outgoing": []}
    model.train()
    for epoch in range(epochs):
        if record_neurons:
            per_layer = neuron_norms(model)
            for k in norms:
                norms[k].append(torch.cat([n[k] for n in per_layer], dim=-1).cpu())
            conserved.append(norms["incoming"][-1] - norms["attention"][-1] - norms["outgoing"][-1])
        logits = model(data.x, data.edge_index)
        loss = member_loss(logits, data.y, data.train_mask)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            pred = logits.argmax(-1)
            rec["loss"][epoch] = loss.detach().cpu()
            rec["train"][epoch] = _accuracy(pred, data.y, data.train_mask).cpu()
            rec["val"][epoch] = _accuracy(pred, data.y, data.val_mask).cpu()
            rec["test"][epoch] = _accuracy(pred, data.y, data.test_mask).cpu()
    return GATHistory(rec["loss"].numpy(), rec["train"].numpy(), rec["val"].numpy(), rec["test"].numpy(),
                      torch.stack(conserved).numpy() if record_neurons else None,
                      {k: torch.stack(v).numpy() for k, v in norms.items()} if record_neurons else {})


# ---------------------------------------------------------------------------------------------
# experiments


@torch.no_grad()
def stack_members(models: Sequence[DeepGAT]) -> DeepGAT:
    """One ensemble `DeepGAT` (members = len(models)) holding copies of single networks of equal shape."""
    if not models or any(m.members is not None for m in models):
        raise ValueError("pass a non-empty list of single networks (members=None)")
    first = models[0]
    if any(m.dims != first.dims for m in models):
        raise ValueError(f"all networks need the same widths, got {[m.dims for m in models]}")
    out = DeepGAT(first.dims[0], first.dims[1], first.dims[-1], first.layers, members=len(models),
                  negative_slope=first.convs[0].negative_slope)
    for k, conv in enumerate(out.convs):
        conv.weight.copy_(torch.stack([m.convs[k].weight for m in models]))
        conv.att.copy_(torch.stack([m.convs[k].att for m in models]))
    return out


@dataclass
class InitComparison:
    """Runs of every (scheme, seed) at each depth, trained together. Member axis: scheme-major, i.e. member
    r = schemes.index(s) * len(seeds) + seeds.index(seed). `unchanged[L]`: (members,) share of weights
    whose relative change stayed below `threshold`; `changes[L]`: (members, weights) relative changes."""

    depths: list[int]
    schemes: list[str]
    seeds: list[int]
    threshold: float
    histories: dict[int, GATHistory]
    unchanged: dict[int, np.ndarray]
    changes: dict[int, np.ndarray]

    def members(self, scheme: str) -> slice:
        i, s = self.schemes.index(scheme), len(self.seeds)
        return slice(i * s, (i + 1) * s)

    def metric(self, depth: int, scheme: str, name: str) -> np.ndarray:
        """A history array (e.g. "train_loss": (epochs, seeds)) or "test_at_best_val" / "unchanged"
        (seeds,) for one depth and scheme."""
        if name == "unchanged":
            return self.unchanged[depth][self.members(scheme)]
        h = self.histories[depth]
        values = h.test_at_best_val() if name == "test_at_best_val" else getattr(h, name)
        return values[..., self.members(scheme)]


def compare_inits(data: Data, depths: Sequence[int], schemes: Sequence[str] = ("xavier", "balo"),
                  seeds: Sequence[int] = (0,), hidden: int = 64, epochs: int = 300, lr: float = 0.1,
                  threshold: float = 0.01) -> InitComparison:
    """Train a `DeepGAT` of each depth from each initialisation scheme and seed (full-batch SGD, the
    protocol of the paper's experiments), all members of a depth in one batched run. Seed s initialises every
    scheme from `torch.Generator().manual_seed(s)`, so "xavier" and "balx" share their Xavier draws."""
    if not depths or not schemes or not seeds:
        raise ValueError("pass at least one depth, one scheme and one seed")
    device = data.x.device
    n_classes = int(data.y.max()) + 1
    histories, unchanged, changes = {}, {}, {}
    for depth in depths:
        singles = [init_gat_(DeepGAT(data.num_features, hidden, n_classes, depth), scheme,
                             torch.Generator().manual_seed(int(seed)))
                   for scheme in schemes for seed in seeds]
        model = stack_members(singles).to(device)
        before = snapshot(model)
        histories[depth] = train_gat(model, data, epochs, lr)
        change = relative_change(before, snapshot(model))
        frac = fraction_unchanged(change, threshold, members=True, kinds=("weight",))
        unchanged[depth] = frac.cpu().numpy()
        changes[depth] = torch.cat([v.reshape(v.size(0), -1) for k, v in change.items()
                                    if k.endswith("weight")], dim=1).cpu().numpy()
    return InitComparison(list(depths), list(schemes), [int(s) for s in seeds], threshold, histories,
                          unchanged, changes)


def record_conservation(data: Data, depth: int, hidden: int, schemes: Sequence[str] = ("xavier", "balo"),
                        seeds: Sequence[int] = (0,), lr: float = 0.01, steps: int = 100
                        ) -> tuple[GATHistory, np.ndarray]:
    """Check the conservation law on `data`: one network per (scheme, seed) (scheme-major, as in
    `compare_inits`), in float64, SGD with a small `lr` recording c^l_i and the neuron norms at every step.
    Also returns, per member, the theorem's identity at initialisation relative to its terms:
    max_i |⟨W^l[i,:], ∇⟩ − a^l[i] ∂_a − ⟨W^{l+1}[:,i], ∇⟩| / max_i |⟨W^l[i,:], ∇⟩| (rounding-level)."""
    n_classes = int(data.y.max()) + 1
    singles = [init_gat_(DeepGAT(data.num_features, hidden, n_classes, depth), scheme,
                         torch.Generator().manual_seed(int(seed)))
               for scheme in schemes for seed in seeds]
    # float64, so that float32 rounding of the squared norms does not hide the law's O(lr²) drift
    model = stack_members(singles).to(data.x.device, torch.float64)
    data = data.clone()
    data.x = data.x.double()
    member_loss(model(data.x, data.edge_index), data.y, data.train_mask).sum().backward()
    residual = gradient_balance(model).abs().amax(-1)
    scale = torch.cat([(w * w.grad).sum(-1) for w in model.weights()[:-1]], dim=-1).abs().amax(-1)
    model.zero_grad(set_to_none=True)
    history = train_gat(model, data, steps, lr, record_neurons=True)
    return history, (residual / scale.detach().clamp_min(1e-30)).cpu().numpy()
