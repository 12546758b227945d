"""Model merging (task arithmetic, TIES, TSV, SCORE), the SAR measure, and the digit domains."""

import math
from functools import partial

import numpy as np
import pytest
import torch

from relml.data import TensorSplit
from relml.learning import domains, merging
from relml.models import MLP


def _model(seed: int, sizes=(6, 5, 4)) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in MLP(sizes, generator=torch.Generator().manual_seed(seed))
            .state_dict().items()}


def _close(a: dict, b: dict, atol: float = 1e-5) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=atol) for k in a)


SUITE = merging.merge_suite()


@pytest.mark.parametrize("name", list(SUITE))
def test_merging_identical_models_returns_the_model(name):
    theta = _model(0)
    taus = [merging.task_vector(theta, theta) for _ in range(3)]
    merged = merging.apply_task_vector(theta, SUITE[name](taus))
    assert _close(merged, theta, atol=0)


@pytest.mark.parametrize("name", ["task_arithmetic", "ties", "tsv", "score", "average"])
def test_a_single_task_vector_with_coefficient_one_returns_the_finetuned_model(name):
    theta0, ft = _model(0), _model(1)
    options = {"keep": 1.0} if name == "ties" else {}  # TIES's default trim keeps only the top 20%
    merged = merging.merge(theta0, [ft], name, coef=1.0, **options) if name != "average" else \
        merging.apply_task_vector(theta0, merging.average([merging.task_vector(ft, theta0)]))
    assert _close(merged, ft, atol=1e-5)


def test_averaging_and_untrimmed_ties_of_identical_experts_return_the_expert():
    theta0, ft = _model(0), _model(1)
    taus = [merging.task_vector(ft, theta0)] * 4
    assert _close(merging.apply_task_vector(theta0, merging.average(taus)), ft)
    assert _close(merging.apply_task_vector(theta0, merging.ties(taus, keep=1.0)), ft)
    assert _close(merging.apply_task_vector(theta0, merging.task_arithmetic(taus), coef=0.25), ft)


def test_ties_sign_election_and_disjoint_mean_on_a_hand_made_example():
    flat = torch.tensor([[1.0, -2.0, 3.0, 0.0],
                         [-3.0, 1.0, 1.0, 0.0],
                         [1.0, 1.0, -5.0, 0.0]])
    # masses: -1, 0, -1, 0 → elected -, (tie → majority sign -), -, (tie → -)
    assert torch.equal(merging.ties_flat(flat, keep=1.0), torch.tensor([-3.0, -2.0, -5.0, 0.0]))
    # keep half: each row keeps its two largest magnitudes
    # rows → [0, -2, 3, 0], [-3, 1, 0, 0], [0, 1, -5, 0]; masses -3, 0, -2, 0 → all signs -
    assert torch.equal(merging.ties_flat(flat, keep=0.5), torch.tensor([-3.0, -2.0, -5.0, 0.0]))
    # positive majority: the agreeing entries are averaged, the others dropped
    flat = torch.tensor([[2.0, 1.0], [4.0, -1.0], [-1.0, 3.0]])
    assert torch.allclose(merging.ties_flat(flat, keep=1.0), torch.tensor([3.0, 2.0]))


@pytest.mark.parametrize("shape", [(3, 12, 9), (4, 9, 12), (3, 10, 10), (2, 7, 5)])
def test_shared_basis_is_orthonormal(shape):
    mats = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u, v = merging.shared_basis(mats)
    r = min(shape[1:])
    assert u.shape == (shape[1], r) and v.shape == (r, shape[2])
    assert torch.allclose(u.T @ u, torch.eye(r, dtype=u.dtype), atol=1e-10)
    assert torch.allclose(v @ v.T, torch.eye(r, dtype=v.dtype), atol=1e-10)


def test_shared_basis_of_one_task_is_its_own_singular_basis_and_score_keeps_its_matrix():
    d = torch.randn(8, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u, v = merging.shared_basis(d[None])
    m = u.T @ d @ v.T
    assert torch.allclose(m, torch.diag(torch.diagonal(m)), atol=1e-10)  # diagonal: the singular values
    assert torch.allclose(torch.diagonal(m).abs(), torch.linalg.svdvals(d), atol=1e-10)
    for part in merging.PARTS[:2] + ("full",):
        assert torch.allclose(merging.score_layer(d[None], part=part), d, atol=1e-10)


def test_score_parts_add_up_and_full_is_the_projected_sum():
    mats = torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    diag, off, full, trimmed = (merging.score_layer(mats, part=p)
                                for p in ("diagonal", "off_diagonal", "full", "trimmed"))
    assert torch.allclose(diag + off, trimmed, atol=1e-10)
    # a square layer's shared basis is complete, so keeping every entry gives back task arithmetic
    assert torch.allclose(full, mats.sum(0), atol=1e-10)
    # threshold 0 keeps no off-diagonal entry (ties with the mean have measure zero)
    assert torch.allclose(merging.score_layer(mats, threshold=0.0), diag, atol=1e-10)
    assert torch.allclose(merging.score_layer(mats, threshold=math.inf), full, atol=1e-10)


def test_trim_keeps_exactly_the_entries_inside_the_band():
    m = torch.randn(2, 6, 6, generator=torch.Generator().manual_seed(3))
    out = merging.trim_off_diagonal(m, 1.0)
    eye = torch.eye(6, dtype=torch.bool)
    off = m.masked_fill(eye, 0)
    band = (off - off.mean((1, 2), keepdim=True)).abs() <= off.flatten(1).std(1).view(2, 1, 1)
    assert torch.equal(out, m * (band | eye))


def test_tsv_of_orthogonal_tasks_is_task_arithmetic():
    # tasks living in disjoint coordinate blocks: the concatenated singular vectors are already
    # orthonormal, so TSV keeps every task's top-k part exactly, and rank-k tasks sum up
    g = torch.Generator().manual_seed(4)
    a = torch.zeros(2, 8, 8, dtype=torch.float64)
    a[0, :4, :4] = torch.randn(4, 1, generator=g, dtype=torch.float64) @ torch.randn(1, 4, generator=g,
                                                                                      dtype=torch.float64)
    a[1, 4:, 4:] = torch.randn(4, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 4, generator=g,
                                                                                      dtype=torch.float64)
    assert torch.allclose(merging.tsv_layer(a), a.sum(0), atol=1e-10)
    assert torch.allclose(merging.score_layer(a, part="diagonal"), a.sum(0), atol=1e-10)


def test_subspace_alignment_ratio_bounds_and_extremes():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(3, 8, 6, generator=g)
    sar = merging.layer_alignment(base, energy=0.97)
    assert sar.shape == (3, 3) and bool(((sar >= 0) & (sar <= 1 + 1e-6)).all())
    assert bool((torch.diagonal(sar) >= 0.97 - 1e-6).all())
    same = merging.layer_alignment(base[:1].expand(3, 8, 6), energy=0.97)
    assert torch.allclose(same, torch.full((3, 3), float(same[0, 0])))
    disjoint = torch.zeros(2, 8, 6)
    disjoint[0, :4] = torch.randn(4, 6, generator=g)
    disjoint[1, 4:] = torch.randn(4, 6, generator=g)
    sar = merging.layer_alignment(disjoint, energy=1.0)
    assert torch.allclose(sar, torch.eye(2), atol=1e-6)
    assert merging.mean_off_diagonal(sar) == pytest.approx(0.0, abs=1e-6)


def test_energy_rank_counts_the_directions_that_hold_the_norm():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])
    assert merging.energy_rank(s, 1.0) == 3
    assert merging.energy_rank(s, 0.5) == 1  # 3 / sqrt(14) = 0.80
    assert merging.energy_rank(s, 0.9) == 2  # sqrt(13 / 14) = 0.96


def test_subspace_alignment_skips_layers_that_no_task_changes():
    theta0 = _model(0)
    fts = [_model(i) for i in (1, 2, 3)]
    taus = [merging.task_vector(ft, theta0) for ft in fts]
    for t in taus:
        t["layers.1.weight"].zero_()  # a frozen head
    sar = merging.subspace_alignment(taus)
    only = merging.layer_alignment(torch.stack([t["layers.0.weight"] for t in taus]))
    assert torch.allclose(sar, only)


def test_task_vector_round_trip_and_leave_one_out():
    theta0 = _model(0)
    experts = [_model(i) for i in (1, 2, 3, 4)]
    assert _close(merging.apply_task_vector(theta0, merging.task_vector(experts[0], theta0)), experts[0])
    seen = []

    def evaluate(sd, d):
        seen.append(d)
        return float(sd["layers.0.bias"].sum())

    out = merging.leave_one_out(theta0, experts, evaluate, ["task_arithmetic"])
    for d in range(4):
        rest = [e for i, e in enumerate(experts) if i != d]
        expected = merging.merge(theta0, rest, "task_arithmetic")["layers.0.bias"].sum()
        assert out["task_arithmetic"][d] == pytest.approx(float(expected), rel=1e-5)
    assert seen == [0, 1, 2, 3]


def test_bad_inputs_raise_value_errors_that_say_what_to_pass():
    a, b = _model(0), _model(1, sizes=(6, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        merging.task_vector(b, a)
    bad = dict(a)
    bad["layers.0.weight"] = bad["layers.0.weight"].clone()
    bad["layers.0.weight"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        merging.task_vector(bad, a)
    with pytest.raises(ValueError, match="rank"):
        merging.score_layer(torch.randn(5, 4, 3))
    with pytest.raises(ValueError, match="keep"):
        merging.ties_flat(torch.randn(2, 5), keep=0.0)
    with pytest.raises(ValueError, match="method"):
        merging.merge(a, [a], "magic")
    with pytest.raises(ValueError, match="part"):
        merging.score_layer(torch.randn(2, 4, 4), part="half")
    with pytest.raises(ValueError, match="zero"):
        merging.layer_alignment(torch.zeros(2, 3, 3))


# ---------------------------------------------------------------------------------------------
# domains


def test_rotations_by_quarter_turns_move_pixels_exactly():
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(6))
    img = x.view(3, 8, 8)
    left = domains.affine(x, degrees=90).view(3, 8, 8)
    assert torch.allclose(left, torch.rot90(img, 1, dims=(1, 2)), atol=1e-6)  # counter-clockwise
    assert torch.allclose(domains.affine(x), x, atol=1e-6)
    shifted = domains.affine(x, shift=(1.0, 0.0)).view(3, 8, 8)
    assert torch.allclose(shifted[:, :, 1:], img[:, :, :-1], atol=1e-6)
    assert torch.allclose(shifted[:, :, 0], torch.zeros(3, 8))


def test_blur_contrast_noise_and_invert():
    x = torch.full((2, 64), 0.7)
    assert torch.allclose(domains.blur(x).view(2, 8, 8)[:, 1:-1, 1:-1], torch.full((2, 6, 6), 0.7))
    ink = torch.tensor([[0.0, 1.0] * 32])
    assert torch.allclose(domains.contrast(ink, 0.4), torch.tensor([[0.3, 0.7] * 32]))
    x = torch.rand(50, 64, generator=torch.Generator().manual_seed(8)) * 0.2 + 0.4
    assert torch.equal(domains.noise(x, 0.0), x)
    assert torch.equal(domains.noise(x, 0.1, seed=1), domains.noise(x, 0.1, seed=1))
    assert not torch.equal(domains.noise(x, 0.1, seed=1), domains.noise(x, 0.1, seed=2))
    assert float((domains.noise(x, 0.1, seed=1) - x).std()) == pytest.approx(0.1, rel=0.1)
    assert torch.allclose(domains.invert(domains.invert(x)), x)
    with pytest.raises(ValueError, match="64"):
        domains.blur(torch.rand(2, 10))


def test_label_permutation_tasks_are_derangements_of_the_same_inputs():
    split = TensorSplit(torch.rand(20, 64), torch.arange(20) % 10, torch.rand(10, 64), torch.arange(10))
    tasks = domains.label_permutation_tasks(3, split, seed=0)
    for t in tasks:
        assert torch.equal(t.x_train, split.x_train)
        assert not bool((t.y_test == split.y_test).any())
        assert sorted(t.y_test.tolist()) == list(range(10))


def test_stacked_finetuning_equals_separate_runs_and_keeps_the_head_frozen():
    g = torch.Generator().manual_seed(7)
    model = MLP([64, 16, 10], generator=g)
    data = [(torch.rand(40, 64, generator=g), torch.randint(0, 10, (40,), generator=g)) for _ in range(3)]
    together = domains.finetune_experts(model, data, epochs=2, batch_size=16, seed=3)
    alone = domains.finetune_experts(model, data[1:2], epochs=2, batch_size=16, seed=3)[0]
    assert _close(together[1], alone, atol=1e-5)
    head = {k: v for k, v in model.state_dict().items() if k.startswith("layers.1.")}
    assert all(torch.equal(together[0][k], v) for k, v in head.items())
    assert not torch.equal(together[0]["layers.0.weight"], model.state_dict()["layers.0.weight"])


def test_digit_domains_transform_train_and_test_alike():
    split = TensorSplit(torch.rand(6, 64), torch.arange(6), torch.rand(4, 64), torch.arange(4))
    out = domains.digit_domains(["clean", "invert"], split)
    assert torch.equal(out["clean"].x_test, split.x_test)
    assert torch.allclose(out["invert"].x_train, 1 - split.x_train)
    with pytest.raises(ValueError, match="distinct"):
        domains.digit_domains(["clean", "clean"], split)


def test_paper_scale_loader_names_the_missing_files(tmp_path, monkeypatch):
    from relml.data import DataMissing

    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    with pytest.raises(DataMissing, match="zeroshot.pt"):
        domains.load_clip_experts("ViT-B-32", "PACS")


def test_rerun_of_a_merge_matches_its_leave_one_out_score():
    theta0 = _model(0, sizes=(64, 12, 10))
    experts = [_model(i, sizes=(64, 12, 10)) for i in (1, 2, 3)]
    x, y = torch.rand(30, 64), torch.randint(0, 10, (30,))
    net = MLP([64, 12, 10])
    evaluate = lambda sd, d: domains.accuracy(net, sd, (x, y))  # noqa: E731
    run = domains.MergingRun(["a", "b", "c"], merging.leave_one_out(theta0, experts, evaluate, ["tsv"]),
                             np.zeros(3), np.zeros(3), np.eye(3), np.eye(3), theta0, experts, evaluate)
    assert np.allclose(run.rerun(partial(merging.tsv)), run.held_out["tsv"])
