r"""GATE (Mustafa & Burkholz, "GATE: How to Keep Out Intrusive Neighbors", ICML 2024, arXiv 2406.00418).

Graph attention with a separate attention vector for a node's own (self-loop) contribution, so that a
layer can switch neighbourhood aggregation off (α_ii → 1) at a small parameter norm, which GAT cannot.

What is here:
- `GATEConv`: the layer, a PyG `MessagePassing` layer beside PyG's own `GATv2Conv`;
- `AttentionNet` / `attention_net`: the paper's deep GAT and GATE models (GAT = PyG `GATv2Conv`
  with one attention vector for all edges and LeakyReLU, as in the official code; no biases, ReLU
  between layers) with the official runs' initialisation (`init_attention_net`: looks-linear orthogonal
  weights, zero GATE attention, Xavier-normal GAT attention);
- `train_node_classifier`: full-batch Adam, test metric at the epoch of best validation metric;
- diagnostics: `self_attention` (α_ii), `dirichlet_energy` (over-smoothing), `roc_auc`;
- `synthetic_task`: the paper's synthetic test bed (`SYNTHETIC_TASKS`, IDs 21–27), regenerated;
- `subsample_nodes`: a random induced subgraph with the split masks kept (quick-scale real data);
- the notebook's experiments (`compare_arms`, `synthetic_sweep`, `heterophilous_sweep`, `summarize`)
  and figures (`plot_depth_sweep`, `plot_arm_pairs`, `plot_single_run`).

torch_geometric is imported at module import: this module is imported only by graph notebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import Parameter
from torch_geometric.data import Data
from torch_geometric.nn import GATv2Conv, MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import (
    add_self_loops,
    is_torch_sparse_tensor,
    remove_self_loops,
    softmax,
    subgraph,
)
from torch_geometric.utils.sparse import set_sparse_value

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    import pandas as pd

Arch = Literal["gat", "gate"]
ARCHS: tuple[str, ...] = ("gat", "gate")
INITS: tuple[str, ...] = ("ll_ortho", "xavier_normal")
METRICS: tuple[str, ...] = ("accuracy", "roc_auc")


# ---------------------------------------------------------------------------------------------
# the layer


class GATEConv(MessagePassing):
    r"""The GATE operator from `"GATE: How to Keep Out Intrusive Neighbors"
    <https://arxiv.org/abs/2406.00418>`_ (Mustafa & Burkholz, ICML 2024).

    A GATv2-style attention layer whose self-loop gets its own attention vector
    :math:`\mathbf{a}_s`, separate from the neighbours' :math:`\mathbf{a}_t`, and whose score uses a
    ReLU, so that a node can turn aggregation over its neighbourhood off:

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{j \in \mathcal{N}(i) \cup \{ i \}}
        \alpha_{i,j}\mathbf{W}\mathbf{x}_{j},
        \qquad
        \alpha_{i,j} = \frac{\exp(e_{i,j})}{\sum_{k \in \mathcal{N}(i) \cup \{ i \}} \exp(e_{i,k})},

    .. math::
        e_{i,j} = \big((1 - q_{i,j})\,\mathbf{a}_s + q_{i,j}\,\mathbf{a}_t\big)^{\top}
        \mathrm{ReLU}\left(\mathbf{U}\mathbf{x}_i + \mathbf{V}\mathbf{x}_j\right),
        \qquad q_{i,j} = \begin{cases} 0 & j = i \\ 1 & j \neq i \end{cases}.

    Self-loops are (re)added, one per node: the self term is what :math:`\mathbf{a}_s` scores. With
    :math:`\mathbf{a}_s^{\top}\mathrm{ReLU}((\mathbf{U}+\mathbf{V})\mathbf{x}_i)` large, :math:`\alpha_{i,i}
    \to 1` and the layer reduces to :math:`\mathbf{x}^{\prime}_i = \mathbf{W}\mathbf{x}_i`. Both attention
    vectors start at zero (the paper's initialisation: uniform attention), weights Glorot.

    Args:
        in_channels (int): size of each input node feature.
        out_channels (int): size of each output sample (per head).
        heads (int, optional): number of attention heads. (default: :obj:`1`)
        concat (bool, optional): concatenate the heads' outputs; else average them.
            (default: :obj:`True`)
        share_weights (bool, optional): :math:`\mathbf{U} = \mathbf{V} = \mathbf{W}` (the paper's
            GATE\ :sub:`S`); else :math:`\mathbf{U}, \mathbf{V}` are matrices of their own (GATE).
            (default: :obj:`False`)
        dropout (float, optional): dropout on the normalised attention coefficients.
            (default: :obj:`0.`)
        bias (bool, optional): learn an additive bias (the paper uses none). (default: :obj:`False`)
        add_self_loops (bool, optional): drop the given self-loops and add one per node. Set it to
            :obj:`False` only for an ``edge_index`` that already holds exactly one self-loop per node
            (a deep model adds them once for all its layers). (default: :obj:`True`)
        **kwargs (optional): further arguments of :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`; edges as ``edge_index``
          :math:`(2, |\mathcal{E}|)` (a plain tensor or PyG's ``EdgeIndex``) or as a transposed
          adjacency ``adj_t`` :math:`(|\mathcal{V}|, |\mathcal{V}|)` in torch's sparse COO or CSR
          layout (entry ``adj_t[i, j]`` carries a message from :math:`j` to :math:`i`).
        - **output:** node features :math:`(|\mathcal{V}|, H \cdot F_{out})` (or
          :math:`(|\mathcal{V}|, F_{out})` without ``concat``); with ``return_attention_weights`` also
          ``(edge_index, alpha)``: the edges including the added self-loops and :math:`\alpha`
          :math:`(|\mathcal{E}| + |\mathcal{V}|, H)` (for a sparse input, the adjacency holding the
          coefficients and :math:`\alpha`).
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, concat: bool = True,
                 share_weights: bool = False, dropout: float = 0.0, bias: bool = False,
                 add_self_loops: bool = True, **kwargs: Any) -> None:
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("heads", heads)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=0, **kwargs)
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.concat, self.share_weights, self.dropout = concat, share_weights, dropout
        self.add_self_loops = add_self_loops
        hc = heads * out_channels
        self.lin = Linear(in_channels, hc, bias=False, weight_initializer="glorot")  # W
        if share_weights:
            self.register_module("lin_src", None)
            self.register_module("lin_dst", None)
        else:
            self.lin_src = Linear(in_channels, hc, bias=False, weight_initializer="glorot")  # V
            self.lin_dst = Linear(in_channels, hc, bias=False, weight_initializer="glorot")  # U
        self.att_self = Parameter(torch.empty(1, heads, out_channels))  # a_s
        self.att_nbr = Parameter(torch.empty(1, heads, out_channels))  # a_t
        if bias:
            self.bias = Parameter(torch.empty(hc if concat else out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin.reset_parameters()
        if self.lin_src is not None:
            self.lin_src.reset_parameters()
            self.lin_dst.reset_parameters()
        zeros(self.att_self)
        zeros(self.att_nbr)
        zeros(self.bias)

    def forward(self, x: Tensor, edge_index: Adj, return_attention_weights: bool | None = None
                ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: (n, in_channels); edge_index: (2, E) or a sparse (n, n) adj_t. Returns (n, H·C) or
        (n, C), and with `return_attention_weights` also (edges with self-loops, alpha (E + n, H))."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(1) != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a (num_nodes, {self.in_channels}) tensor, got {shape}")
        n = x.size(0)
        if self.add_self_loops:
            edge_index = _self_loops(edge_index, n)
        H, C = self.heads, self.out_channels
        if self.lin_src is None:
            wh = self.lin(x).view(-1, H, C)
            src = dst = wh
        else:  # W, V, U in one matmul
            weight = torch.cat([self.lin.weight, self.lin_src.weight, self.lin_dst.weight])
            wh, src, dst = (x @ weight.T).view(n, 3, H, C).unbind(1)
        # edge_updater_type: (s: PairTensor)
        alpha = self.edge_updater(edge_index, s=(src, dst), size=(n, n))
        # propagate_type: (h: Tensor, alpha: Tensor)
        out = self.propagate(edge_index, h=wh, alpha=alpha, size=(n, n))
        out = out.reshape(n, H * C) if self.concat else out.mean(dim=1)
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            if is_torch_sparse_tensor(edge_index):
                return out, (set_sparse_value(edge_index, alpha), alpha)
            return out, (edge_index, alpha)
        return out

    def edge_update(self, s_j: Tensor, s_i: Tensor, edge_index_i: Tensor, edge_index_j: Tensor,
                    index: Tensor, ptr: OptTensor, dim_size: int | None) -> Tensor:
        z = F.relu(s_i + s_j)  # (E, H, C): ReLU(U x_i + V x_j)
        att = torch.stack([self.att_nbr[0], self.att_self[0]], dim=-1)  # (H, C, 2): a_t, a_s
        e = torch.einsum("ehc,hck->ehk", z, att)  # (E, H, 2): both scores of every edge
        is_self = (edge_index_i == edge_index_j).view(-1, 1)
        e = torch.where(is_self, e[..., 1], e[..., 0])  # (E, H): a_s on self-loops, a_t elsewhere
        alpha = softmax(e, index, ptr, dim_size)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, h_j: Tensor, alpha: Tensor) -> Tensor:
        return h_j * alpha.unsqueeze(-1)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, heads={self.heads}, "
                f"share_weights={self.share_weights})")


def _self_loops(edge_index: Adj, n: int) -> Adj:
    """Exactly one self-loop per node: drop the given ones, add all n (edge_index or torch sparse adj_t)."""
    if is_torch_sparse_tensor(edge_index):
        if edge_index.size(0) != n or edge_index.size(1) != n:
            raise ValueError(f"sparse adj_t must be ({n}, {n}) for {n} nodes, got {tuple(edge_index.shape)}")
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, _ = add_self_loops(edge_index, num_nodes=n)
        return edge_index
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2 \
            or edge_index.is_floating_point():
        raise ValueError("edge_index must be an integer (2, E) tensor or a torch sparse (n, n) adj_t, got "
                         f"{getattr(edge_index, 'shape', type(edge_index).__name__)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index holds node ids outside [0, {n})")
    edge_index, _ = remove_self_loops(edge_index)
    edge_index, _ = add_self_loops(edge_index, num_nodes=n)
    return edge_index


# ---------------------------------------------------------------------------------------------
# deep models and their initialisation


class AttentionNet(nn.Module):
    """The paper's GAT / GATE networks: `num_layers` attention layers, ReLU between them, no biases,
    one head; the last layer outputs the class logits.

    arch="gate": `GATEConv`; arch="gat": PyG's `GATv2Conv` (one attention vector for all edges,
    LeakyReLU(0.2) in the score, no bias): the official code's GAT baseline. Both see one self-loop
    per node, added once per forward pass for all layers.
    share_weights=True gives the paper's GAT_S / GATE_S (one matrix for the score and the aggregation).
    Dimensions: in_channels → hidden_channels × (num_layers − 1) → out_channels.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
                 arch: Arch = "gate", share_weights: bool = False) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        if not (isinstance(num_layers, int) and num_layers >= 1):
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.arch, self.share_weights = arch, share_weights
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        convs: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            if arch == "gate":
                convs.append(GATEConv(d_in, d_out, share_weights=share_weights, add_self_loops=False))
            else:
                convs.append(GATv2Conv(d_in, d_out, heads=1, bias=False, add_self_loops=False,
                                       negative_slope=0.2, share_weights=share_weights))
        self.convs = nn.ModuleList(convs)

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        """x: (n, in_channels) → logits (n, out_channels)."""
        return self.hidden_states(x, edge_index)[-1]

    def hidden_states(self, x: Tensor, edge_index: Adj) -> list[Tensor]:
        """Each layer's output (after the ReLU, except the last): num_layers tensors (n, d_l)."""
        edge_index = _self_loops(edge_index, x.size(0))  # once for all layers
        out = []
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.relu(x)
            out.append(x)
        return out

    @torch.no_grad()
    def attention(self, x: Tensor, edge_index: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per layer: (edge_index with self-loops (2, E'), alpha (E', heads))."""
        edge_index = _self_loops(edge_index, x.size(0))
        out = []
        for i, conv in enumerate(self.convs):
            x, att = conv(x, edge_index, return_attention_weights=True)
            out.append((att[0], att[1]))
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return out


def looks_linear_orthogonal_(weights: list[Tensor], generator: torch.Generator | None = None) -> None:
    """Looks-linear orthogonal init of a stack of weights W_l (out_l, in_l), in place (the official
    runs' `LLortho`): with Δ orthogonal, the first layer [Δ; −Δ], hidden layers [[Δ, −Δ], [−Δ, Δ]],
    the last [Δ, −Δ], so a ReLU network starts as a linear map (ReLU(z) − ReLU(−z) = z).
    A one-layer stack gets the last layer's form; odd sizes are cut to shape."""
    L = len(weights)
    for layer, w in enumerate(weights):
        out_d, in_d = w.shape
        if L > 1 and layer == 0:
            delta = torch.nn.init.orthogonal_(torch.empty(math.ceil(out_d / 2), in_d), generator=generator)
            block = torch.cat([delta, -delta], dim=0)
        elif layer == L - 1:
            delta = torch.nn.init.orthogonal_(torch.empty(out_d, math.ceil(in_d / 2)), generator=generator)
            block = torch.cat([delta, -delta], dim=1)
        else:
            delta = torch.nn.init.orthogonal_(torch.empty(math.ceil(out_d / 2), math.ceil(in_d / 2)),
                                              generator=generator)
            block = torch.cat([torch.cat([delta, -delta], 1), torch.cat([-delta, delta], 1)], 0)
        with torch.no_grad():
            w.copy_(block[:out_d, :in_d])


def _weight_groups(model: AttentionNet) -> dict[str, list[Tensor]]:
    """The model's weight matrices by role, one per layer each (shared matrices appear once)."""
    groups: dict[str, list[Tensor]] = {}
    for conv in model.convs:
        if isinstance(conv, GATEConv):
            mods = {"W": conv.lin, "V": conv.lin_src, "U": conv.lin_dst}
        else:
            mods = {"W": conv.lin_l, "U": None if conv.share_weights else conv.lin_r}
        for role, m in mods.items():
            if m is not None:
                groups.setdefault(role, []).append(m.weight)
    return groups


def init_attention_net(model: AttentionNet, scheme: str = "ll_ortho", seed: int = 0) -> AttentionNet:
    """The official runs' initialisation: weights looks-linear orthogonal ("ll_ortho") or Xavier
    normal ("xavier_normal"); attention zero for GATE (a_s = a_t = 0), Xavier normal for GAT."""
    if scheme not in INITS:
        raise ValueError(f"scheme must be one of {INITS}, got {scheme!r}")
    g = torch.Generator().manual_seed(seed)
    for weights in _weight_groups(model).values():
        if scheme == "ll_ortho":
            looks_linear_orthogonal_(weights, g)
        else:
            for w in weights:
                torch.nn.init.xavier_normal_(w, generator=g)
    with torch.no_grad():
        for conv in model.convs:
            if isinstance(conv, GATEConv):
                conv.att_self.zero_()
                conv.att_nbr.zero_()
            else:
                torch.nn.init.xavier_normal_(conv.att, generator=g)
    return model


def attention_net(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
                  arch: Arch = "gate", share_weights: bool = False, init: str = "ll_ortho",
                  seed: int = 0) -> AttentionNet:
    """An `AttentionNet` initialised as in the official runs (`init_attention_net`)."""
    model = AttentionNet(in_channels, hidden_channels, out_channels, num_layers, arch, share_weights)
    return init_attention_net(model, init, seed)


# ---------------------------------------------------------------------------------------------
# diagnostics


def self_attention(edge_index: Tensor, alpha: Tensor, num_nodes: int) -> Tensor:
    """α_ii, the attention mass a node puts on itself: (num_nodes, heads) from a layer's returned
    (edge_index (2, E), alpha (E, heads) or (E,)); NaN for a node without a self-loop."""
    if alpha.dim() == 1:
        alpha = alpha.unsqueeze(-1)
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or alpha.size(0) != edge_index.size(1):
        raise ValueError(f"need edge_index (2, E) and alpha (E, heads), got {tuple(edge_index.shape)} and "
                         f"{tuple(alpha.shape)}")
    out = torch.full((num_nodes, alpha.size(1)), float("nan"), dtype=alpha.dtype, device=alpha.device)
    loops = edge_index[0] == edge_index[1]
    out[edge_index[0, loops]] = alpha[loops]
    return out


@torch.no_grad()
def self_attention_per_layer(model: AttentionNet, data: Data) -> list[Tensor]:
    """α_ii of every node in every layer of a trained model: num_layers tensors (n,) (head-mean)."""
    was = model.training
    model.eval()
    atts = model.attention(data.x, data.edge_index)
    model.train(was)
    return [self_attention(ei, a, data.num_nodes).mean(dim=1) for ei, a in atts]


def dirichlet_energy(x: Tensor, edge_index: Tensor, normalized: bool = False) -> float:
    """Dirichlet energy (1/n) Σ_{(i,j) ∈ E} ||x_i − x_j||² over the directed edge list (each undirected
    edge twice): it decays to 0 as node states over-smooth. `normalized` divides by ||x||_F² / n,
    making it scale-free (a Rayleigh quotient of the graph Laplacian)."""
    if x.dim() != 2 or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"need x (n, d) and edge_index (2, E), got {tuple(x.shape)}, "
                         f"{tuple(edge_index.shape)}")
    diff = x[edge_index[0]] - x[edge_index[1]]
    energy = float(diff.pow(2).sum()) / x.size(0)
    if normalized:
        scale = float(x.pow(2).sum()) / x.size(0)
        return energy / scale if scale > 0 else 0.0
    return energy


def roc_auc(score: Tensor, y: Tensor) -> float:
    """Area under the ROC curve of scores (m,) for binary labels (m,) (Mann–Whitney U, ties halved)."""
    y = y.bool()
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        raise ValueError("roc_auc needs both classes among the labels")
    order = torch.argsort(score)
    s = score[order]
    ranks = torch.empty_like(score, dtype=torch.float64)
    # average rank within ties: first and last position of each run of equal scores
    _, inverse, counts = torch.unique_consecutive(s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    mid = ends - (counts.double() - 1) / 2
    ranks[order] = mid[inverse]
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class FitResult:
    """Full-batch training record: the test metric at the epoch of best validation metric."""

    best_val: float
    test: float
    best_epoch: int
    epochs: int
    final_train_loss: float
    train_metric: float
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)


def _metric(logits: Tensor, y: Tensor, mask: Tensor, metric: str) -> float:
    if metric == "accuracy":
        return float((logits[mask].argmax(-1) == y[mask]).float().mean())
    return roc_auc(torch.softmax(logits[mask], -1)[:, 1], y[mask])


def train_node_classifier(model: nn.Module, data: Data, *, epochs: int, lr: float = 0.005,
                          weight_decay: float = 0.0, metric: str = "accuracy", stop_loss: float = 1e-4,
                          record: bool = False) -> FitResult:
    """Adam on the cross-entropy of the training nodes, full batch (the official training loop).

    Every epoch's metrics are read from the forward pass of that epoch before its step (no dropout in
    these models, so it equals an evaluation pass); the reported test metric is the one at the best
    validation metric. Training stops early once the training loss falls to `stop_loss` (1e-4 in the
    official runs). `metric` is "accuracy" or "roc_auc" (binary: softmax score of class 1).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    for name in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        if getattr(data, name, None) is None:
            raise ValueError(f"data needs {name} (a PyG Data with x, y, edge_index and split masks)")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    x, ei, y = data.x, data.edge_index, data.y
    best_val, best_test, best_epoch = -math.inf, math.nan, -1
    hist: dict[str, list[float]] = {"loss": [], "train": [], "val": [], "test": []}
    model.train()
    loss_value, train_m, epoch = math.nan, math.nan, 0
    for epoch in range(epochs):  # noqa: B007 (epoch is read after the loop)
        opt.zero_grad()
        logits = model(x, ei)
        loss = F.cross_entropy(logits[data.train_mask], y[data.train_mask])
        with torch.no_grad():
            val = _metric(logits, y, data.val_mask, metric)
            if val > best_val:
                best_val, best_epoch = val, epoch
                best_test = _metric(logits, y, data.test_mask, metric)
            if record:
                train_m = _metric(logits, y, data.train_mask, metric)
                for k, v in (("loss", float(loss)), ("train", train_m), ("val", val),
                             ("test", _metric(logits, y, data.test_mask, metric))):
                    hist[k].append(v)
        loss_value = float(loss.detach())
        if loss_value <= stop_loss:
            break
        loss.backward()
        opt.step()
    if not record:
        with torch.no_grad():
            train_m = _metric(logits.detach(), y, data.train_mask, metric)
    return FitResult(best_val, best_test, best_epoch, epoch + 1, loss_value, train_m, hist)


# ---------------------------------------------------------------------------------------------
# the synthetic test bed


@dataclass(frozen=True)
class SyntheticSpec:
    """One row of the official SyntheticDataSettings.csv."""

    structure: str  # "ER" (Erdős–Rényi G(n, p)) or "Cora" (Cora's graph)
    num_nodes: int
    num_classes: int
    kind: str  # "neighbor" (labels from `hops` random-attention aggregations) or "self" (one-hot labels)
    hops: int = 0
    feature_dim: int = 0
    p: float = 0.01
    random_labels: bool = True
    split: tuple[float, float, float] = (0.5, 0.25, 0.25)


SYNTHETIC_TASKS: dict[int, SyntheticSpec] = {
    21: SyntheticSpec("ER", 1000, 2, "neighbor", hops=1, feature_dim=2),
    22: SyntheticSpec("ER", 1000, 2, "neighbor", hops=2, feature_dim=2),
    23: SyntheticSpec("ER", 1000, 2, "neighbor", hops=3, feature_dim=2),
    24: SyntheticSpec("Cora", 2708, 7, "self", random_labels=False),
    25: SyntheticSpec("Cora", 2708, 7, "self"),
    26: SyntheticSpec("ER", 1000, 2, "self"),
    27: SyntheticSpec("ER", 1000, 8, "self"),
}


def attention_aggregation(x: Tensor, edge_index: Tensor, weights: list[Tensor], atts: list[Tensor]) -> Tensor:
    """Layers of GATE_S-style attention without self-loops, each a sparse matmul H ← A_α (H Wᵀ):
    α_ij = softmax_{j ∈ N(i)} a_tᵀ ReLU(W h_i + W h_j), ReLU between layers.

    x: (n, d); edge_index: (2, E) (messages edge_index[0] → edge_index[1]); weights: W_l (d_l+1, d_l);
    atts: a_l (d_l+1,). Returns (n, d_L)."""
    if len(weights) != len(atts) or not weights:
        raise ValueError(f"need as many attention vectors as weights (>= 1), got {len(atts)} and "
                         f"{len(weights)}")
    n = x.size(0)
    src, dst = edge_index
    h = x
    for layer, (w, a) in enumerate(zip(weights, atts, strict=True)):
        wh = h @ w.T
        score = F.relu(wh[dst] + wh[src]) @ a  # (E,)
        alpha = softmax(score, dst, num_nodes=n)
        adj = torch.sparse_coo_tensor(torch.stack([dst, src]), alpha, (n, n))
        h = torch.sparse.mm(adj, wh)
        if layer < len(weights) - 1:
            h = F.relu(h)
    return h


def random_attention_aggregation(x: Tensor, edge_index: Tensor, hops: int, generator: torch.Generator
                                 ) -> Tensor:
    """The label-making map of the neighbour-dependent tasks (official generator): `hops` layers of
    `attention_aggregation` with random parameters drawn as the official code initialises them:
    W (d, d) as torch's default Linear (U(±1/√d)), a_t Glorot-uniform on a (1, d) vector. x: (n, d)."""
    d = x.size(1)
    weights = [(torch.rand(d, d, generator=generator) * 2 - 1) / math.sqrt(d) for _ in range(hops)]
    bound = math.sqrt(6.0 / (1 + d))
    atts = [(torch.rand(d, generator=generator) * 2 - 1) * bound for _ in range(hops)]
    return attention_aggregation(x, edge_index, weights, atts)


def two_means(z: Tensor, generator: torch.Generator, n_init: int = 4, iters: int = 100) -> Tensor:
    """2-means clustering (Lloyd, k-means++ seeding, best of n_init by inertia): labels (n,) in {0, 1}.

    Vectorised over points (and restarts); loops only over the Lloyd iterations."""
    n = z.size(0)
    z = z.double()
    best_lab, best_inertia = torch.zeros(n, dtype=torch.long), math.inf
    for _ in range(n_init):
        c0 = z[torch.randint(n, (1,), generator=generator)]
        d0 = (z - c0).pow(2).sum(1)
        c1 = z[torch.multinomial(d0 / d0.sum(), 1, generator=generator)] if d0.sum() > 0 else c0
        centers = torch.cat([c0, c1])
        lab = torch.cdist(z, centers).argmin(1)
        for _ in range(iters):
            for k in range(2):  # two centres
                if (lab == k).any():
                    centers[k] = z[lab == k].mean(0)
            lab_new = torch.cdist(z, centers).argmin(1)
            if torch.equal(lab_new, lab):
                break
            lab = lab_new
        inertia = float((z - centers[lab]).pow(2).sum())
        if inertia < best_inertia:
            best_lab, best_inertia = lab, inertia
    return best_lab


def synthetic_task(graph_id: int, seed: int = 0, num_nodes: int | None = None) -> Data:
    """A graph of the paper's synthetic test bed (official generateSyntheticData.py), regenerated.

    IDs 21–23 (neighbour-dependent): ER(n, 0.01), features x ~ N(0, I_2), labels = 2-means clusters
    of `random_attention_aggregation(x, hops)` (hops = 1, 2, 3). IDs 26/27 (self-sufficient): ER(n,
    0.01) with uniformly random labels in 2/8 classes and one-hot label features x = onehot(y). IDs
    24/25: Cora's graph with its original (24) or random (25) labels as one-hot features and Cora's
    public split (as the official generator does; the settings file's 2:1:1 applies to the ER tasks).
    ER tasks split all nodes at random 2:1:1. `num_nodes` overrides n for the ER tasks (quick scale),
    with p scaled to keep the paper's mean degree (0.01 · 1000 ≈ 10): intrusive neighbours stay as many.
    Returns a PyG Data with x, y, edge_index (undirected, no self-loops) and split masks; data.spec
    (the task's row) and, for IDs 21–23, data.aggregated (the clustered embedding).
    """
    from relml.data.graphs import load_planetoid, random_split_masks, sbm_edges

    if graph_id not in SYNTHETIC_TASKS:
        raise ValueError(f"graph_id must be one of {sorted(SYNTHETIC_TASKS)}, got {graph_id!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    spec = SYNTHETIC_TASKS[graph_id]
    g = torch.Generator().manual_seed(seed * 1000 + graph_id)
    if spec.structure == "Cora":
        cora = load_planetoid("cora")
        n, edge_index = cora.num_nodes, cora.edge_index
        y = torch.randint(spec.num_classes, (n,), generator=g) if spec.random_labels else cora.y
        masks = (cora.train_mask, cora.val_mask, cora.test_mask)
        x = F.one_hot(y, spec.num_classes).float()
    else:
        n = spec.num_nodes if num_nodes is None else num_nodes
        if not (isinstance(n, int) and n >= 8):
            raise ValueError(f"num_nodes must be an integer >= 8, got {n!r}")
        p = min(1.0, spec.p * spec.num_nodes / n)  # the paper's mean degree p·n ≈ 10 at any n
        edge_index = sbm_edges([n], torch.tensor([[p]]), seed=seed * 1000 + graph_id)
        masks = random_split_masks(n, spec.split, seed=seed * 1000 + graph_id + 1)
        if spec.kind == "self":
            y = torch.randint(spec.num_classes, (n,), generator=g)
            x = F.one_hot(y, spec.num_classes).float()
        else:
            x = torch.randn(n, spec.feature_dim, generator=g)
            z = random_attention_aggregation(x, edge_index, spec.hops, g)
            y = two_means(z, g)
    data = Data(x=x, y=y, edge_index=edge_index, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2], num_nodes=n)
    if spec.kind == "neighbor":
        data.aggregated = z  # (n, 2): the embedding whose 2-means clusters are the labels
    data.spec = spec
    return data


def subsample_nodes(data: Data, num_nodes: int, seed: int = 0) -> Data:
    """The subgraph induced by `num_nodes` nodes drawn uniformly (without replacement), with x, y and
    the split masks restricted to them (quick-scale runs of large real graphs)."""
    n = data.num_nodes
    if not (isinstance(num_nodes, int) and num_nodes >= 1):
        raise ValueError(f"num_nodes must be a positive integer, got {num_nodes!r}")
    if num_nodes >= n:
        return data
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(n, generator=g)[:num_nodes].sort().values
    edge_index, _ = subgraph(keep, data.edge_index, relabel_nodes=True, num_nodes=n)
    out = Data(x=data.x[keep], y=data.y[keep], edge_index=edge_index, num_nodes=num_nodes)
    for name in ("train_mask", "val_mask", "test_mask"):
        if getattr(data, name, None) is not None:
            out[name] = data[name][keep]
    return out


# ---------------------------------------------------------------------------------------------
# experiments of the notebook: the same arms on one graph, the heterophilous data


def compare_arms(data: Data, *, depths: tuple[int, ...] | list[int], hidden: int, epochs: int, lr: float,
                 seed: int = 0, archs: tuple[str, ...] = ARCHS, share_weights: bool = False,
                 init: str = "ll_ortho", metric: str = "accuracy",
                 device: torch.device | str = "cpu") -> pd.DataFrame:
    """Train GAT and GATE (`attention_net`, official init) of every depth on `data`; one row per run.

    Columns: arch, depth, seed, test (the test metric at the best validation epoch), val, train
    (train metric at the end), epochs, best_epoch, loss, alpha (per layer: α_ii of every node, (n,)),
    alpha_median (per layer), energy (per layer: normalised Dirichlet energy of the hidden states).
    """
    import pandas as pd

    classes = int(data.y.max()) + 1
    data = data.to(device)
    rows = []
    for depth in depths:
        for arch in archs:
            model = attention_net(data.num_features, hidden, classes, depth, arch, share_weights, init,
                                  seed=seed * 100 + depth).to(device)
            res = train_node_classifier(model, data, epochs=epochs, lr=lr, metric=metric)
            alphas = [a.cpu() for a in self_attention_per_layer(model, data)]
            with torch.no_grad():
                states = model.hidden_states(data.x, data.edge_index)
            rows.append({"arch": arch, "depth": depth, "seed": seed, "test": res.test, "val": res.best_val,
                         "train": res.train_metric, "epochs": res.epochs, "best_epoch": res.best_epoch,
                         "loss": res.final_train_loss,
                         "alpha": [a.numpy() for a in alphas],
                         "alpha_median": [float(a.nanmedian()) for a in alphas],
                         "energy": [dirichlet_energy(h, data.edge_index, normalized=True) for h in states]})
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (arch, depth): mean test metric and epochs over runs, the median α_ii pooled over nodes,
    layers and runs (alpha_ii), the smallest per-layer median (alpha_min_layer: is some layer still
    aggregating?), and the mean normalised Dirichlet energy of the hidden layers (all but the output;
    the output's for one layer)."""
    import numpy as np
    import pandas as pd

    def pooled(alpha: pd.Series) -> float:
        return float(np.nanmedian(np.concatenate([np.concatenate(a) for a in alpha])))

    def min_layer(alpha: pd.Series) -> float:
        layers = zip(*alpha, strict=True)  # per layer: the runs' α_ii arrays
        return float(min(np.nanmedian(np.concatenate(per_layer)) for per_layer in layers))

    def hidden_energy(energy: pd.Series) -> float:
        return float(np.mean([np.mean(e[:-1]) if len(e) > 1 else e[0] for e in energy]))

    g = runs.groupby(["arch", "depth"])
    return pd.DataFrame({"test": g.test.mean(), "epochs": g.epochs.mean(),
                         "alpha_ii": g.alpha.apply(pooled), "alpha_min_layer": g.alpha.apply(min_layer),
                         "energy": g.energy.apply(hidden_energy)})


def synthetic_sweep(graph_id: int, seeds: list[int], *, num_nodes: int | None, depths: tuple[int, ...],
                    hidden: int, epochs: int, lr: float = 0.005, device: torch.device | str = "cpu"
                    ) -> pd.DataFrame:
    """`compare_arms` (GAT vs GATE, unshared weights as in the paper's synthetic runs) on
    `synthetic_task(graph_id, seed, num_nodes)` for every seed; rows stacked."""
    import pandas as pd

    frames = [compare_arms(synthetic_task(graph_id, s, num_nodes), depths=depths, hidden=hidden,
                           epochs=epochs, lr=lr, seed=s, device=device) for s in seeds]
    return pd.concat(frames, ignore_index=True)


def heterophilous_sweep(name: str, splits: list[int], *, depth: int, hidden: int, epochs: int, lr: float,
                        num_nodes: int = 0, seed: int = 0, device: torch.device | str = "cpu"
                        ) -> pd.DataFrame:
    """GAT_S vs GATE_S (shared weights, the paper's real-data arms) on benchmark splits of a
    heterophilous set (`relml.data.load_heterophilous`); ROC-AUC for two classes, else accuracy.
    `num_nodes` > 0 trains on a random induced subgraph of that many nodes (quick scale)."""
    import pandas as pd

    from relml.data.graphs import load_heterophilous

    frames = []
    for split in splits:
        data = load_heterophilous(name, split)
        if num_nodes:
            data = subsample_nodes(data, num_nodes, seed=seed)
        metric = "roc_auc" if int(data.y.max()) == 1 else "accuracy"
        df = compare_arms(data, depths=(depth,), hidden=hidden, epochs=epochs, lr=lr, seed=seed,
                          share_weights=True, metric=metric, device=device)
        frames.append(df.assign(dataset=name, split=split, metric=metric))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# figures of the notebook

ARCH_COLORS = {"gat": "#e4572e", "gate": "#1b6ca8"}
ARCH_LABELS = {"gat": "GAT", "gate": "GATE"}


def plot_depth_sweep(runs: pd.DataFrame, title: str = "") -> plt.Figure:
    """Three panels from `compare_arms` rows: test accuracy per depth (mean ± min/max over seeds), α_ii
    per layer of the deepest models (median and 10–90% band over nodes, pooled over seeds), and the
    normalised Dirichlet energy of each layer's output (over-smoothing) of the deepest models."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    depths = sorted(runs.depth.unique())
    width = 0.38
    for k, arch in enumerate(("gat", "gate")):
        sub = runs[runs.arch == arch].groupby("depth").test
        mean, lo, hi = sub.mean(), sub.min(), sub.max()
        pos = np.arange(len(depths)) + (k - 0.5) * width
        axes[0].bar(pos, mean[depths], width, color=ARCH_COLORS[arch], label=ARCH_LABELS[arch],
                    yerr=[mean[depths] - lo[depths], hi[depths] - mean[depths]], capsize=3)
        deep = runs[(runs.arch == arch) & (runs.depth == depths[-1])]
        alphas = np.stack([np.concatenate([r[layer] for r in deep.alpha]) for layer in range(depths[-1])])
        layers = np.arange(1, depths[-1] + 1)
        q10, q50, q90 = np.nanquantile(alphas, [0.1, 0.5, 0.9], axis=1)
        axes[1].plot(layers, q50, "o-", color=ARCH_COLORS[arch], label=ARCH_LABELS[arch])
        axes[1].fill_between(layers, q10, q90, color=ARCH_COLORS[arch], alpha=0.2)
        energy = np.stack(list(deep.energy)).mean(0)
        axes[2].semilogy(layers, energy, "o-", color=ARCH_COLORS[arch], label=ARCH_LABELS[arch])
    axes[0].set(xticks=np.arange(len(depths)), xticklabels=[str(d) for d in depths], xlabel="layers",
                ylabel="test accuracy", ylim=(0, 1.05), title="accuracy at best validation")
    axes[1].set(xlabel=f"layer (of {depths[-1]})", ylabel=r"$\alpha_{ii}$", ylim=(-0.02, 1.02),
                title=r"self-attention $\alpha_{ii}$ (median, 10–90%)")
    axes[2].set(xlabel=f"layer (of {depths[-1]})", ylabel="energy / ‖X‖²",
                title="normalised Dirichlet energy")
    axes[0].legend()
    if title:
        fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig


def plot_arm_pairs(runs: pd.DataFrame, by: str, title: str = "", show_alpha: bool = False) -> plt.Figure:
    """GAT vs GATE test metric per `by` group (e.g. dataset or depth), one dot per run, means marked;
    with `show_alpha` a second panel with the distribution of α_ii (all nodes, layers and runs)."""
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(dict.fromkeys(runs[by]))
    width = 2.2 + 1.4 * len(groups)
    fig, axes = plt.subplots(1, 2 if show_alpha else 1, figsize=(width + (4.2 if show_alpha else 0), 3.2),
                             squeeze=False)
    ax = axes[0, 0]
    for g_i, group in enumerate(groups):
        for k, arch in enumerate(("gat", "gate")):
            vals = runs[(runs[by] == group) & (runs.arch == arch)].test.to_numpy()
            x = np.full(len(vals), g_i + (k - 0.5) * 0.35)
            ax.scatter(x, vals, color=ARCH_COLORS[arch], alpha=0.6, s=18,
                       label=ARCH_LABELS[arch] if g_i == 0 else None)
            ax.hlines(vals.mean(), x[0] - 0.12, x[0] + 0.12, color=ARCH_COLORS[arch], lw=2.5)
    metrics = runs.metric.unique() if "metric" in runs else ["accuracy"]
    ax.set(xticks=range(len(groups)), xticklabels=[str(g) for g in groups], xlim=(-0.6, len(groups) - 0.4),
           ylim=(0, 1.02), xlabel=by, ylabel="test " + " / ".join(m.replace("_", "-") for m in metrics),
           title=title)
    ax.legend(loc="lower right")
    if show_alpha:
        bins = np.linspace(0, 1, 26)
        for arch in ("gat", "gate"):
            alphas = np.concatenate([np.concatenate(a) for a in runs[runs.arch == arch].alpha])
            axes[0, 1].hist(alphas[~np.isnan(alphas)], bins=bins, histtype="step", lw=1.5,
                            color=ARCH_COLORS[arch], label=ARCH_LABELS[arch])
        axes[0, 1].set(xlabel=r"$\alpha_{ii}$", ylabel="nodes × layers",
                       title=r"self-attention $\alpha_{ii}$")
        axes[0, 1].legend()
    fig.tight_layout()
    return fig


def plot_single_run(graph_id: int = 27, depth: int = 2, arch: str = "gate", epochs: int = 40,
                    num_nodes: int = 300, hidden: int = 16, lr: float = 0.005, seed: int = 0) -> plt.Figure:
    """Train one GAT or GATE on a synthetic task and draw the distribution of α_ii in each layer,
    with the test accuracy at the best validation epoch in the title (the notebook's explorer)."""
    import matplotlib.pyplot as plt
    import numpy as np

    run = compare_arms(synthetic_task(graph_id, seed, num_nodes), depths=(depth,), hidden=hidden,
                       epochs=epochs, lr=lr, seed=seed, archs=(arch,)).iloc[0]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(0, 1, 26)
    for layer, a in enumerate(run.alpha):
        ax.hist(a[~np.isnan(a)], bins=bins, histtype="step", lw=1.5, label=f"layer {layer + 1}")
    ax.set(xlabel=r"$\alpha_{ii}$ (attention on the node itself)", ylabel="nodes",
           title=f"{ARCH_LABELS[arch]}, {depth} layer(s), task {graph_id}: test acc. {run.test:.2f} "
                 f"after {run.epochs} epochs")
    ax.legend()
    fig.tight_layout()
    return fig
