"""GATE layer conventions, its diagnostics and the synthetic test bed (relml.graphs.gate)."""

import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.utils import scatter, to_torch_coo_tensor, to_torch_csr_tensor

from relml.data.graphs import undirected
from relml.graphs import gate

pytestmark = pytest.mark.filterwarnings("ignore:Sparse (invariant|CSR):UserWarning")


def small_graph(n: int = 12, e: int = 30, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ei = undirected(torch.randint(n, (2, e), generator=g), n)
    return torch.randn(n, d, generator=g), ei


def randomize_attention(conv: gate.GATEConv, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        conv.att_self.normal_(generator=g)
        conv.att_nbr.normal_(generator=g)


@pytest.mark.parametrize("share_weights", [False, True])
def test_reset_parameters_gives_uniform_attention(share_weights):
    x, ei = small_graph()
    conv = gate.GATEConv(5, 4, heads=2, share_weights=share_weights)
    w_before = conv.lin.weight.detach().clone()
    randomize_attention(conv)
    conv.reset_parameters()
    assert not torch.equal(conv.lin.weight, w_before)  # weights redrawn
    assert conv.att_self.abs().sum() == 0 and conv.att_nbr.abs().sum() == 0
    _, (ei_loops, alpha) = conv(x, ei, return_attention_weights=True)
    deg = torch.bincount(ei_loops[1], minlength=x.size(0)).float()  # neighbours + the self-loop
    torch.testing.assert_close(alpha, (1 / deg[ei_loops[1]]).unsqueeze(-1).expand(-1, 2))


@pytest.mark.parametrize("share_weights", [False, True])
def test_edge_index_and_sparse_adjacency_agree(share_weights):
    x, ei = small_graph()
    n = x.size(0)
    conv = gate.GATEConv(5, 3, heads=2, share_weights=share_weights)
    randomize_attention(conv)
    ref, (ei_ref, a_ref) = conv(x, ei, return_attention_weights=True)
    alpha_ref = gate.self_attention(ei_ref, a_ref, n)
    adjs = [to_torch_coo_tensor(ei.flip(0), size=(n, n)), to_torch_csr_tensor(ei.flip(0), size=(n, n)),
            EdgeIndex(ei, sparse_size=(n, n))]
    for adj in adjs:
        out = conv(x, adj)
        torch.testing.assert_close(out, ref)
    _, (adj_alpha, a_sp) = conv(x, adjs[0], return_attention_weights=True)
    rows, cols = adj_alpha.coalesce().indices()  # adj_t: row = target, col = source
    torch.testing.assert_close(gate.self_attention(torch.stack([cols, rows]), a_sp, n), alpha_ref)


def test_given_self_loops_are_replaced_by_one_per_node():
    x, ei = small_graph()
    conv = gate.GATEConv(5, 3)
    randomize_attention(conv)
    loops = torch.arange(4).repeat(2, 1)
    torch.testing.assert_close(conv(x, torch.cat([ei, loops, loops], 1)), conv(x, ei))
    # add_self_loops=False trusts a graph that already has one loop per node
    bare = gate.GATEConv(5, 3, add_self_loops=False)
    bare.load_state_dict(conv.state_dict())
    all_loops = torch.arange(x.size(0)).repeat(2, 1)
    torch.testing.assert_close(bare(x, torch.cat([ei, all_loops], 1)), conv(x, ei))


def test_attention_sums_to_one_per_node():
    x, ei = small_graph(n=20, e=60)
    conv = gate.GATEConv(5, 4, heads=3)
    randomize_attention(conv)
    _, (ei_loops, alpha) = conv(x, ei, return_attention_weights=True)
    sums = scatter(alpha, ei_loops[1], dim=0, dim_size=x.size(0), reduce="sum")
    torch.testing.assert_close(sums, torch.ones(x.size(0), 3))


def test_large_self_attention_switches_aggregation_off():
    """a_s large (a_t = 0): α_ii → 1 and the layer reduces to x'_i = W x_i."""
    x, ei = small_graph()
    x = x.abs()
    conv = gate.GATEConv(5, 4, share_weights=True)
    with torch.no_grad():
        conv.lin.weight.abs_()  # W x_i > 0, so e_ii = a_sᵀ ReLU(2 W x_i) grows with a_s
        conv.att_self.fill_(50.0)
    out, (ei_loops, alpha) = conv(x, ei, return_attention_weights=True)
    a_ii = gate.self_attention(ei_loops, alpha, x.size(0))
    assert a_ii.min() > 1 - 1e-4
    torch.testing.assert_close(out, conv.lin(x), atol=1e-3, rtol=1e-3)


def test_bad_input_raises():
    x, ei = small_graph()
    conv = gate.GATEConv(5, 4)
    with pytest.raises(ValueError, match="x must be"):
        conv(x[:, :3], ei)
    with pytest.raises(ValueError, match="outside"):
        conv(x, ei + 100)
    with pytest.raises(ValueError, match="edge_index"):
        conv(x, ei.float())
    with pytest.raises(ValueError, match="positive"):
        gate.GATEConv(0, 4)
    with pytest.raises(ValueError, match="arch"):
        gate.AttentionNet(5, 8, 2, 2, arch="gcn")


def test_looks_linear_init_makes_the_relu_stack_linear():
    """With W_1 = [Δ1; −Δ1], W_l = [[Δl, −Δl], [−Δl, Δl]], W_L = [ΔL, −ΔL]: the ReLU stack equals
    ΔL…Δ1 x = 2^{-(L-1)} W_L…W_1 x."""
    ws = [torch.empty(8, 3), torch.empty(8, 8), torch.empty(8, 8), torch.empty(2, 8)]
    gate.looks_linear_orthogonal_(ws, torch.Generator().manual_seed(0))
    x = torch.randn(10, 3)
    h = x
    for i, w in enumerate(ws):
        h = h @ w.T
        if i < len(ws) - 1:
            h = torch.relu(h)
    lin = x
    for w in ws:
        lin = lin @ w.T
    torch.testing.assert_close(h, lin / 2 ** (len(ws) - 1))
    delta = ws[0][:4]  # orthonormal columns
    torch.testing.assert_close(delta.T @ delta, torch.eye(3))


@pytest.mark.parametrize("arch", ["gat", "gate"])
def test_attention_net_init_and_diagnostics(arch):
    x, ei = small_graph()
    model = gate.attention_net(5, 8, 3, 3, arch=arch, seed=0)
    again = gate.attention_net(5, 8, 3, 3, arch=arch, seed=0)
    torch.testing.assert_close(model(x, ei), again(x, ei))  # same seed, same model
    states = model.hidden_states(x, ei)
    assert [tuple(s.shape) for s in states] == [(12, 8), (12, 8), (12, 3)]
    from torch_geometric.data import Data

    a_ii = gate.self_attention_per_layer(model, Data(x=x, edge_index=ei, num_nodes=12))
    assert len(a_ii) == 3 and all(((a > 0) & (a <= 1)).all() for a in a_ii)
    if arch == "gate":  # zero attention: uniform over the neighbourhood and the node itself
        deg = torch.bincount(ei[1], minlength=12).float() + 1
        torch.testing.assert_close(a_ii[0], 1 / deg)


def test_dirichlet_energy_is_the_laplacian_quadratic_form():
    x, ei = small_graph()
    n = x.size(0)
    adj = torch.zeros(n, n)
    adj[ei[0], ei[1]] = 1
    lap = torch.diag(adj.sum(1)) - adj
    expected = 2 * torch.trace(x.T @ lap @ x) / n  # each undirected edge listed twice
    assert gate.dirichlet_energy(x, ei) == pytest.approx(float(expected), rel=1e-5)
    assert gate.dirichlet_energy(torch.ones(n, 3), ei) == 0.0
    assert gate.dirichlet_energy(3 * x, ei, normalized=True) == pytest.approx(
        gate.dirichlet_energy(x, ei, normalized=True), rel=1e-5)


def test_roc_auc_is_the_probability_a_positive_outscores_a_negative():
    g = torch.Generator().manual_seed(0)
    score = torch.randint(0, 6, (200,), generator=g).float()  # many ties
    y = torch.randint(0, 2, (200,), generator=g)
    pos, neg = score[y == 1][:, None], score[y == 0][None, :]
    pairwise = ((pos > neg).double() + 0.5 * (pos == neg).double()).mean()
    assert gate.roc_auc(score, y) == pytest.approx(float(pairwise))


def test_attention_aggregation_matches_a_dense_reference():
    x, ei = small_graph(n=10, e=25, d=2)
    ws, atts = [torch.randn(2, 2), torch.randn(2, 2)], [torch.randn(2), torch.randn(2)]
    adj = torch.zeros(10, 10, dtype=torch.bool)
    adj[ei[1], ei[0]] = True  # adj[i, j]: j sends to i
    h = x
    for layer, (w, a) in enumerate(zip(ws, atts, strict=True)):
        wh = h @ w.T
        e = torch.relu(wh[:, None, :] + wh[None, :, :]) @ a  # e[i, j]
        alpha = torch.softmax(e.masked_fill(~adj, float("-inf")), dim=1).nan_to_num(0.0)
        h = alpha @ wh
        h = torch.relu(h) if layer == 0 else h
    torch.testing.assert_close(gate.attention_aggregation(x, ei, ws, atts), h)


@pytest.mark.parametrize("graph_id", [26, 27])
def test_self_sufficient_tasks_follow_their_rule(graph_id):
    data = gate.synthetic_task(graph_id, seed=3, num_nodes=200)
    classes = gate.SYNTHETIC_TASKS[graph_id].num_classes
    assert torch.equal(data.x, torch.nn.functional.one_hot(data.y, classes).float())  # x = onehot(y)
    masks = torch.stack([data.train_mask, data.val_mask, data.test_mask]).long()
    assert masks.sum(0).max() == 1 and masks.sum(1).tolist() == [100, 50, 50]  # disjoint, 2:1:1
    mean_degree = data.edge_index.size(1) / data.num_nodes
    assert 7 < mean_degree < 13  # the paper's ER(1000, 0.01) mean degree, kept at n = 200
    torch.testing.assert_close(gate.synthetic_task(graph_id, seed=3, num_nodes=200).y, data.y)


def test_neighbour_dependent_labels_are_two_means_clusters_of_the_aggregation():
    data = gate.synthetic_task(21, seed=1, num_nodes=200)
    z, y = data.aggregated.double(), data.y
    assert set(y.tolist()) == {0, 1}
    centers = torch.stack([z[y == k].mean(0) for k in (0, 1)])
    assert torch.equal(torch.cdist(z, centers).argmin(1), y)  # a fixed point of Lloyd's iteration
    assert data.x.shape == (200, 2)


def test_train_node_classifier_reports_test_at_best_validation():
    data = gate.synthetic_task(26, seed=0, num_nodes=60)
    model = gate.attention_net(2, 8, 2, 2, arch="gate", seed=0)
    res = gate.train_node_classifier(model, data, epochs=6, record=True)
    assert 0 <= res.best_epoch < res.epochs == 6
    assert res.best_val == max(res.history["val"])
    assert res.test == res.history["test"][res.best_epoch]
    with pytest.raises(ValueError, match="metric"):
        gate.train_node_classifier(model, data, epochs=2, metric="f1")


def test_subsample_keeps_an_induced_subgraph():
    data = gate.synthetic_task(26, seed=0, num_nodes=100)
    sub = gate.subsample_nodes(data, 40, seed=0)
    assert sub.num_nodes == 40 and sub.edge_index.max() < 40
    assert sub.train_mask.sum() + sub.val_mask.sum() + sub.test_mask.sum() == 40


def test_summarize_pools_self_attention_over_nodes_layers_and_runs():
    import numpy as np
    import pandas as pd

    runs = pd.DataFrame([
        {"arch": "gate", "depth": 2, "test": 1.0, "epochs": 10, "energy": [4.0, 9.0],
         "alpha": [np.array([0.1, 0.2, 0.3]), np.array([1.0, 1.0, 1.0])]},
        {"arch": "gate", "depth": 2, "test": 0.5, "epochs": 20, "energy": [2.0, 9.0],
         "alpha": [np.array([0.4, np.nan, 0.6]), np.array([0.9, 0.9, 0.9])]},
    ])
    row = gate.summarize(runs).loc[("gate", 2)]
    assert row.test == 0.75 and row.epochs == 15
    assert row.alpha_ii == pytest.approx(0.9)  # median of the 11 non-NaN values
    assert row.alpha_min_layer == pytest.approx(0.3)  # layer 1: median of 0.1 … 0.6
    assert row.energy == pytest.approx(3.0)  # hidden layers only
