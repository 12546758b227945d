"""relml.bio.grn: the vendored 350-gene data, PHOENIX's derivative model and the network evaluation."""

from pathlib import Path

import numpy as np
import pytest
import torch

from relml.bio import grn
from relml.data import DataMissing

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "dash_grn"


@pytest.fixture(scope="module")
def sim350() -> grn.GRNData:
    return grn.load_sim350()


def test_load_sim350_shapes_and_truth(sim350):
    assert sim350.trajectories.shape == (10, 5, 350)
    assert sim350.times.shape == (10, 5)
    assert torch.equal(sim350.times[0], torch.tensor([0.0, 2.0, 3.0, 7.0, 9.0]))
    assert sim350.truth.shape == (350, 350) and int((sim350.truth != 0).sum()) == 550
    assert set(sim350.priors) == set(grn.NOISE_LEVELS)
    assert torch.equal(sim350.priors[0.0], sim350.truth)
    # the inputs never move and are exactly the genes no edge targets
    assert int(sim350.inputs.sum()) == 73
    targeted = (sim350.truth != 0).any(dim=0)
    assert torch.equal(targeted, ~sim350.inputs)
    assert len(sim350.names) == 350


@pytest.mark.parametrize("noise", [0.025, 0.05, 0.1])
def test_priors_keep_one_minus_twice_the_noise(sim350, noise):
    prior = sim350.priors[noise]
    kept = ((prior != 0) & (sim350.truth != 0)).sum() / (sim350.truth != 0).sum()
    assert int((prior != 0).sum()) == 550
    assert abs(float(kept) - (1 - 2 * noise)) < 0.01
    # kept edges keep their sign
    both = (prior != 0) & (sim350.truth != 0)
    assert torch.equal(prior[both], sim350.truth[both])


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared DASH csv files are not on this machine")
def test_compact_copy_matches_the_csv_files(tmp_path, sim350):
    out = grn.compact_sim350(SHARED, tmp_path / "sim350.npz")
    again = grn.load_sim350(out)
    assert torch.equal(again.trajectories, sim350.trajectories)
    for noise in grn.NOISE_LEVELS:
        dense = np.loadtxt(SHARED / f"edge_prior_matrix_simu_350_noise_{noise}.csv", delimiter=",")
        assert np.array_equal(again.priors[noise].numpy(), dense)


def test_missing_files_raise_data_missing(tmp_path):
    with pytest.raises(DataMissing, match="simu_350genes_150samples_train_val.csv"):
        grn.load_sim350_train(tmp_path)
    with pytest.raises(DataMissing, match="hema_B_529genes_2samples.csv"):
        grn.load_expression("hematopoiesis", tmp_path)
    with pytest.raises(DataMissing, match="desmedt_11165genes_1sample_186T.csv"):
        grn.load_expression("breast_cancer", tmp_path)
    with pytest.raises(ValueError, match="pass one of"):
        grn.load_expression("liver", tmp_path)
    with pytest.raises(DataMissing):
        grn.load_sim350(tmp_path / "absent.npz")


def test_transitions_pairs_consecutive_points(sim350):
    x, y = grn.transitions(sim350.trajectories[:3], sim350.times[:3])
    assert x.shape == (12, 351) and y.shape == (12, 350)
    assert torch.equal(x[:4, -1], torch.tensor([2.0, 1.0, 4.0, 2.0]))
    assert torch.equal(x[1, :-1], sim350.trajectories[0, 1])
    assert torch.equal(y[1], sim350.trajectories[0, 2])


def test_transitions_reject_bad_input(sim350):
    traj, times = sim350.trajectories[:2].clone(), sim350.times[:2].clone()
    with pytest.raises(ValueError, match="T, K, n"):
        grn.transitions(traj[0], times)
    with pytest.raises(ValueError, match="times must be"):
        grn.transitions(traj, times[:, :3])
    traj[0, 1, 5] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        grn.transitions(traj, times)
    with pytest.raises(ValueError, match="increase"):
        grn.transitions(sim350.trajectories[:2], times.flip(1))


def test_split_trajectories_partitions():
    train, val = grn.split_trajectories(10, 2, torch.Generator().manual_seed(0))
    assert len(val) == 2 and len(train) == 8
    assert sorted(torch.cat([train, val]).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        grn.split_trajectories(10, 10)


def test_phoenix_forward_shapes_and_gradients():
    model = grn.Phoenix(12, 5, members=3, solver="rk4", steps=2, generator=torch.Generator().manual_seed(0))
    inputs = torch.cat([torch.rand(7, 12), torch.rand(7, 1) + 0.5], dim=1)
    out = model(inputs)
    assert out.shape == (3, 7, 12)
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # shared init: every member starts from the same weights
    assert all(torch.equal(p[0], p[-1]) for p in model.parameters())


def test_phoenix_init_keeps_a_few_weights_per_column():
    model = grn.Phoenix(60, 40, generator=torch.Generator().manual_seed(1))
    assert torch.equal((model.w_prods[0] != 0).sum(0), torch.full((60,), 2))
    a = model.a_sums[0]
    assert torch.allclose(a.T @ a, torch.eye(40), atol=1e-5)
    wide = grn.Phoenix(20, 40, generator=torch.Generator().manual_seed(1)).a_prods[0]
    assert torch.allclose(wide @ wide.T, torch.eye(20), atol=1e-5)


def test_phoenix_rejects_bad_input():
    with pytest.raises(ValueError, match="solver"):
        grn.Phoenix(5, 3, solver="euler")
    with pytest.raises(ValueError, match="hidden"):
        grn.Phoenix(5, 0)
    model = grn.Phoenix(5, 3)
    with pytest.raises(ValueError, match=r"\(B, n \+ 1\)"):
        model(torch.rand(4, 5))


@pytest.mark.parametrize("solver,steps", [("expeuler", 1), ("rk4", 64)])
def test_pure_decay_matches_closed_form(solver, steps):
    """With A = 0, J(x) = 0 and dx/dt = −ReLU(υ) x: x(Δ) = x e^{−υΔ} (exponential Euler is exact)."""
    model = grn.Phoenix(6, 3, members=2, solver=solver, steps=steps, shared_init=False,
                        generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.a_sums.zero_()
        model.a_prods.zero_()
    x, dt = torch.rand(4, 6), torch.tensor([[0.5], [1.0], [2.0], [4.0]])
    with torch.no_grad():
        out = model(torch.cat([x, dt], dim=1))
    exact = x * torch.exp(-torch.relu(model.gene_mult)[:, None, :] * dt)
    assert torch.allclose(out, exact, atol=1e-5)


def test_effects_matrix_is_the_jacobian_of_the_sums_branch():
    """With the prods branch off, ∂(dx_j/dt)/∂x_i at x = ½ (σ' = 1) is E[i, j] − υ_j δ_ij."""
    model = grn.Phoenix(7, 4, members=2, shared_init=False, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model.a_prods.zero_()
        model.w_sums.normal_()
    x = torch.full((1, 7), 0.5)
    effects = grn.effects_matrix(model)
    for r in range(2):
        jac = torch.autograd.functional.jacobian(lambda z, r=r: model.derivative(z)[r, 0], x)[:, 0, :]
        expected = effects[r].T - torch.diag(torch.relu(model.gene_mult[r]))
        assert torch.allclose(jac, expected, atol=1e-5)


def test_edge_scores_normalise_over_regulators():
    model = grn.Phoenix(9, 4, members=2, shared_init=False, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        model.w_sums.normal_()
        model.w_prods.normal_()
    scores = grn.edge_scores(model)
    sums = scores.sum(dim=1)
    active = torch.relu(model.gene_mult) > 0
    assert torch.allclose(sums[active], torch.ones(int(active.sum())), atol=1e-5)
    assert (scores >= 0).all()


def test_network_metrics_perfect_and_random():
    gen = torch.Generator().manual_seed(5)
    truth = (torch.rand(40, 40, generator=gen) < 0.1).float()
    truth.fill_diagonal_(0)
    perfect = grn.network_metrics(truth, truth)
    assert perfect["aupr"] == pytest.approx(1.0) and perfect["auroc"] == pytest.approx(1.0)
    assert perfect["precision_at_k"] == pytest.approx(1.0)
    noise = torch.rand(50, 40, 40, generator=gen)
    rand = grn.network_metrics(noise, truth)
    assert rand["auroc"].shape == (50,)
    assert abs(rand["auroc"].mean() - 0.5) < 0.03
    base = float((truth != 0).sum()) / (40 * 39)
    assert abs(rand["aupr"].mean() - base) < 0.03


def test_network_metrics_reject_bad_input():
    truth = torch.zeros(5, 5)
    truth[0, 1] = 1
    with pytest.raises(ValueError, match="shape"):
        grn.network_metrics(torch.rand(4, 4), truth)
    with pytest.raises(ValueError, match="NaN"):
        grn.network_metrics(torch.full((5, 5), float("nan")), truth)
    with pytest.raises(ValueError, match="square"):
        grn.network_metrics(torch.rand(5, 5), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="both edges"):
        grn.network_metrics(torch.rand(5, 5), torch.zeros(5, 5))


def test_prior_scores_rank_the_prior(sim350):
    m = grn.network_metrics(grn.prior_scores(sim350.priors[0.0]), sim350.truth)
    assert m["aupr"] == pytest.approx(1.0)
    recall, precision = grn.pr_curve(grn.prior_scores(sim350.priors[0.1]), sim350.truth)
    assert recall.shape == precision.shape and precision.max() <= 1.0


@pytest.mark.parametrize("ties", [False, True])
def test_ranking_metrics_match_scikit_learn(ties):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(6)
    labels = rng.random(2000) < 0.05
    scores = rng.random(2000) + labels * 0.3
    if ties:
        scores = np.round(scores, 1)
    assert grn.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))
    assert grn.roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
