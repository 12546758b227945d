import numpy as np
import pytest
import torch

from relml.data import (
    DataMissing,
    contextual_sbm,
    erdos_renyi_graph,
    load_heterophilous,
    load_planetoid,
    random_split_masks,
    row_normalize,
    sbm,
    sbm_edges,
    undirected,
)
from relml.data.graphs import VENDORED


def assert_clean_undirected(edge_index, n):
    src, dst = edge_index
    assert (src != dst).all(), "self loops left"
    keys = src * n + dst
    assert torch.equal(keys, torch.unique(keys)), "not sorted and deduplicated"
    assert torch.equal(torch.unique(dst * n + src), keys), "some edge lacks its reverse"


def test_vendored_cora_has_the_planetoid_shape_and_public_split():
    data = load_planetoid("cora")
    assert data.x.shape == (2708, 1433) and data.y.max() == 6
    assert data.edge_index.shape == (2, 10556)
    assert_clean_undirected(data.edge_index, 2708)
    assert (data.train_mask.sum(), data.val_mask.sum(), data.test_mask.sum()) == (140, 500, 1000)
    assert not (data.train_mask & data.test_mask).any()
    assert torch.bincount(data.y[data.train_mask]).tolist() == [20] * 7  # 20 labels per class
    rows = load_planetoid("cora", normalize_features=True).x.sum(dim=1)
    assert torch.allclose(rows[rows > 0], torch.ones(int((rows > 0).sum())))


@pytest.mark.parametrize("split", [0, 9])
def test_vendored_cornell_reads_the_chosen_split(split):
    data = load_heterophilous("cornell", split=split)
    with np.load(VENDORED / "heterophilous" / "cornell.npz") as npz:
        assert torch.equal(data.train_mask, torch.from_numpy(npz["train_masks"][split]))
        assert data.x.shape == npz["node_features"].shape
        pairs = {tuple(e) for e in npz["edges"].tolist() if e[0] != e[1]}
    assert_clean_undirected(data.edge_index, data.num_nodes)
    got = set(map(tuple, data.edge_index.t().tolist()))
    assert got == pairs | {(b, a) for a, b in pairs}


def test_bad_split_and_names_are_rejected():
    with pytest.raises(ValueError, match=r"split must be an integer in \[0, 10\)"):
        load_heterophilous("cornell", split=10)
    with pytest.raises(ValueError, match="cora, citeseer, pubmed"):
        load_planetoid("coraa")


def test_absent_sets_raise_data_missing_naming_files_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    with pytest.raises(DataMissing, match=r"ind\.pubmed\.x.*ind\.pubmed\.test\.index.*planetoid"):
        load_planetoid("pubmed", download=False)
    with pytest.raises(DataMissing, match=r"roman_empire\.npz.*heterophilous"):
        load_heterophilous("roman-empire", download=False)


def test_cached_heterophilous_file_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    (tmp_path / "heterophilous").mkdir()
    rng = np.random.default_rng(0)
    masks = rng.random((10, 6)) < 0.5
    np.savez(tmp_path / "heterophilous" / "toy.npz", node_features=rng.random((6, 3)).astype(np.float32),
             node_labels=np.arange(6) % 2, edges=np.array([[0, 1], [1, 0], [2, 3], [4, 4]]),
             train_masks=masks, val_masks=~masks, test_masks=~masks)
    data = load_heterophilous("toy", split=2, download=False)
    assert data.edge_index.tolist() == [[0, 1, 2, 3], [1, 0, 3, 2]]
    assert torch.equal(data.train_mask, torch.from_numpy(masks[2]))


def test_undirected_and_row_normalize():
    ei = torch.tensor([[0, 2, 2, 1, 1], [1, 0, 0, 1, 0]])
    assert undirected(ei, 3).tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        undirected(ei, 2)
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert row_normalize(x).tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_sbm_edge_counts_match_their_binomial_means():
    sizes, p = [150, 100, 50], torch.tensor([[0.2, 0.02, 0.05], [0.02, 0.3, 0.01], [0.05, 0.01, 0.4]])
    ei = sbm_edges(sizes, p, seed=3)
    assert_clean_undirected(ei, 300)
    block = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    upper = ei[:, ei[0] < ei[1]]
    counts = torch.zeros(3, 3)
    counts.index_put_((block[upper[0]], block[upper[1]]), torch.ones(upper.size(1)), accumulate=True)
    counts = counts + counts.T - torch.diag(counts.diagonal())
    s = torch.tensor(sizes, dtype=torch.float64)
    pairs = torch.outer(s, s) - torch.diag(s * (s + 1) / 2)
    mean, sd = pairs * p.double(), (pairs * p.double() * (1 - p.double())).sqrt()
    assert ((counts.double() - mean).abs() < 5 * sd).all()
    assert torch.equal(ei, sbm_edges(sizes, p, seed=3))  # same seed, same graph


def test_dense_blocks_give_complete_graphs():
    ei = sbm_edges([7, 5], torch.tensor([[1.0, 0.0], [0.0, 1.0]]), seed=0)
    assert ei.size(1) == 2 * (21 + 10)


def test_synthetic_graphs_carry_labels_features_and_masks():
    data = contextual_sbm(600, 3, 0.05, 0.01, feature_dim=16, separation=4.0, seed=1)
    assert data.x.shape == (600, 16) and torch.bincount(data.y).tolist() == [200] * 3
    means = torch.stack([data.x[data.y == c].mean(0) for c in range(3)])
    dist = torch.cdist(means, means)[torch.triu_indices(3, 3, 1).unbind()]
    assert ((dist - 4.0).abs() < 0.6).all()
    assert (data.train_mask.sum(), data.val_mask.sum(), data.test_mask.sum()) == (300, 150, 150)
    assert not (data.train_mask & data.val_mask).any() and not (data.val_mask & data.test_mask).any()
    src, dst = data.edge_index
    assert (data.y[src] == data.y[dst]).float().mean() > 0.6  # expected 199 p_in / (199 p_in + 400 p_out)
    er = erdos_renyi_graph(500, 0.02, feature_dim=2, classes=4, seed=0)
    assert abs(er.num_edges / 2 - 0.02 * 500 * 499 / 2) < 5 * (0.02 * 500 * 499 / 2) ** 0.5
    assert set(er.y.tolist()) == {0, 1, 2, 3}
    assert sbm(90, 3, 0.2, 0.0, seed=0).edge_index.shape[1] > 0


def test_bad_synthetic_arguments_raise():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sbm(50, 2, 1.5, 0.1)
    with pytest.raises(ValueError, match="classes <= n"):
        contextual_sbm(2, 3, 0.1, 0.1)
    with pytest.raises(ValueError, match="separation"):
        contextual_sbm(20, 2, 0.1, 0.1, separation=float("nan"))
    with pytest.raises(ValueError, match="fractions"):
        random_split_masks(10, (0.8, 0.3, 0.1))
