import numpy as np
import pytest
import torch
from torch_geometric.nn import GATv2Conv

from relml.data import contextual_sbm
from relml.graphs.gat import (
    DeepGAT,
    GATv2Layer,
    balance_,
    compare_inits,
    conservation_drift,
    conserved_quantity,
    fraction_unchanged,
    gradient_balance,
    init_gat_,
    member_loss,
    neuron_norms,
    record_conservation,
    relative_change,
    snapshot,
    stack_members,
    train_gat,
)


@pytest.fixture(scope="module")
def graph():
    return contextual_sbm(60, 3, 0.15, 0.03, feature_dim=6, separation=3.0, seed=0)


def test_layer_equals_pyg_gatv2conv_with_shared_weights(graph):
    layer = GATv2Layer(6, 4)
    ref = GATv2Conv(6, 4, heads=1, share_weights=True, bias=False)
    with torch.no_grad():
        ref.lin_l.weight.copy_(layer.weight)
        ref.att.copy_(layer.att.view(1, 1, -1))
    out, (ei, alpha) = layer(graph.x, graph.edge_index, return_attention=True)
    ref_out, (ref_ei, ref_alpha) = ref(graph.x, graph.edge_index, return_attention_weights=True)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.equal(ei, ref_ei) and torch.allclose(alpha, ref_alpha.view(-1), atol=1e-6)
    sums = torch.zeros(graph.num_nodes).index_add_(0, ei[1], alpha)
    assert torch.allclose(sums, torch.ones(graph.num_nodes), atol=1e-5)  # softmax over each neighbourhood


def test_members_compute_what_single_networks_compute(graph):
    singles = [init_gat_(DeepGAT(6, 4, 3, 3), s, torch.Generator().manual_seed(k))
               for k, s in enumerate(("xavier", "balx", "balo"))]
    ens = stack_members(singles)
    out = ens(graph.x, graph.edge_index)
    assert out.shape == (3, 60, 3)
    for r, net in enumerate(singles):
        assert torch.allclose(out[r], net(graph.x, graph.edge_index), atol=1e-5)
    # summed member losses: each member's gradient is that of its own loss
    member_loss(out, graph.y, graph.train_mask).sum().backward()
    member_loss(singles[1](graph.x, graph.edge_index), graph.y, graph.train_mask).backward()
    assert torch.allclose(ens.convs[0].weight.grad[1], singles[1].convs[0].weight.grad, atol=1e-6)


def test_gradient_identity_holds_for_any_loss(graph):
    net = DeepGAT(6, 6, 3, 4).double()
    init_gat_(net, "xavier", torch.Generator().manual_seed(1))
    with torch.no_grad():  # nonzero attention everywhere, so every term of the identity is active
        for a in net.attentions():
            a.normal_(0, 0.5, generator=torch.Generator().manual_seed(2))
    out = net(graph.x.double(), graph.edge_index)
    (out.pow(3).sum() + out[:, 0].exp().mean()).backward()
    scale = (net.convs[0].weight * net.convs[0].weight.grad).sum(-1).abs().max()
    assert gradient_balance(net).abs().max() < 1e-10 * scale


def test_conserved_quantity_stays_put_under_small_step_gradient_descent(graph):
    data = graph.clone()
    data.x = data.x.double()
    net = init_gat_(DeepGAT(6, 6, 3, 3), "xavier", torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        for a in net.attentions():
            a.normal_(0, 0.5, generator=torch.Generator().manual_seed(4))
    hist = train_gat(net, data, 50, lr=1e-3, record_neurons=True)
    c, inc = hist.conserved, hist.norms["incoming"]
    drift = np.abs(c - c[0]).max()
    assert drift < 1e-4 * np.abs(inc).max()  # orders of magnitude below the quantity's size
    assert drift < 1e-2 * np.abs(inc - inc[0]).max()  # and below the change of its terms
    assert conservation_drift(hist)["ratio"] < 1e-2
    assert np.allclose(c, inc - hist.norms["attention"] - hist.norms["outgoing"])
    law, residual = record_conservation(graph, 3, 4, ("xavier", "balo"), seeds=[0], lr=1e-3, steps=5)
    assert residual.shape == (2,) and residual.max() < 1e-12  # the theorem's identity, float64
    assert law.conserved.shape == (5, 2, 8) and conservation_drift(law)["ratio"].max() < 1e-2


@pytest.mark.parametrize("scheme", ["balo", "balx"])
def test_balanced_initialisations_are_balanced(scheme):
    net = init_gat_(DeepGAT(10, 8, 3, 5, members=2), scheme, torch.Generator().manual_seed(0))
    assert conserved_quantity(net).abs().max() < 1e-5
    assert torch.allclose(net.convs[0].weight.pow(2).sum(-1), torch.full((2, 8), 2.0), atol=1e-5)
    assert all(float(a.detach().abs().max()) == 0.0 for a in net.attentions())
    partial = balance_(init_gat_(DeepGAT(10, 8, 3, 4), "xavier"), c=1.0, beta=0.5)
    assert conserved_quantity(partial).abs().max() < 1e-5  # the surplus went into the attention
    norms = neuron_norms(partial)[0]
    assert torch.allclose(norms["attention"], norms["outgoing"], atol=1e-5)


def test_looks_linear_network_is_linear_at_init(graph):
    net = init_gat_(DeepGAT(6, 8, 3, 4), "llortho", torch.Generator().manual_seed(0))
    w = net.convs[1].weight
    assert torch.allclose(w @ w.T, 2 * torch.block_diag(torch.eye(4), torch.eye(4))
                          - 2 * torch.eye(8).roll(4, 0), atol=1e-5)
    x = graph.x
    out_sum = net(x + 2 * x.flip(0), graph.edge_index)
    assert torch.allclose(out_sum, net(x, graph.edge_index) + 2 * net(x.flip(0), graph.edge_index), atol=1e-4)


def test_xavier_scale_and_bad_arguments():
    net = init_gat_(DeepGAT(200, 100, 3, 2), "xavier", torch.Generator().manual_seed(0))
    assert abs(float(net.convs[0].weight.std()) - (2 / 300) ** 0.5) < 0.005
    assert abs(float(net.convs[0].att.std()) - 0.1) < 0.03
    with pytest.raises(ValueError, match="unknown scheme"):
        init_gat_(net, "kaiming")
    with pytest.raises(ValueError, match="even hidden widths"):
        init_gat_(DeepGAT(4, 5, 3, 3), "balo")
    with pytest.raises(ValueError, match="members"):
        DeepGAT(4, 4, 3, 2, members=0)
    with pytest.raises(ValueError, match="takes 4"):
        GATv2Layer(4, 2)(torch.zeros(3, 5), torch.zeros(2, 0, dtype=torch.long))


def test_relative_change_and_fraction_unchanged():
    before = {"a.weight": torch.tensor([[1.0, 2.0, 0.0]]), "a.att": torch.tensor([[0.0]])}
    after = {"a.weight": torch.tensor([[1.001, 3.0, 1.0]]), "a.att": torch.tensor([[5.0]])}
    change = relative_change(before, after)
    assert torch.allclose(change["a.weight"][0, :2], torch.tensor([0.001, 0.5]), atol=1e-6)
    assert change["a.weight"][0, 2].isnan() and change["a.att"].isnan().all()
    assert float(fraction_unchanged(change, 0.01)) == 0.5  # NaN entries are not counted
    assert fraction_unchanged(change, 0.01, members=True).tolist() == [0.5]


def test_training_and_comparison_run_and_learn(graph):
    net = init_gat_(DeepGAT(6, 8, 3, 2), "balo", torch.Generator().manual_seed(0))
    p0 = snapshot(net)
    hist = train_gat(net, graph, 60, lr=0.1)
    assert hist.train_loss[-1] < 0.7 * hist.train_loss[0] and hist.train_acc.max() > 0.8
    assert fraction_unchanged(relative_change(p0, snapshot(net))) < 0.5
    runs = compare_inits(graph, [2, 3], ["xavier", "balo"], seeds=[0, 1], hidden=4, epochs=5)
    assert runs.metric(3, "balo", "train_loss").shape == (5, 2)
    assert runs.metric(2, "xavier", "test_at_best_val").shape == (2,)
    assert runs.changes[3].shape == (4, 6 * 4 + 4 * 4 + 4 * 3)
    broken = graph.clone()
    del broken.val_mask
    with pytest.raises(ValueError, match="lacks val_mask"):
        train_gat(net, broken, 1)
