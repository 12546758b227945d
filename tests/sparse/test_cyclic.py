"""The arms of "Cyclic Sparse Training": fixed masks stay fixed, SCULPT is the cyclic arm plus one prune and
one cycle, budgets and density-weighted costs add up, per-member metrics match separate evaluation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from relml.data import DataMissing, TensorSplit, digits
from relml.models import EnsembleMLP
from relml.sparse import cyclic
from relml.sparse.cyclic import (
    arm_summary,
    density_weighted_epochs,
    fixed_mask_arm,
    iterative_arm,
    load_testbed,
    one_cycle_arm,
    random_start_masks,
    rounds_to,
    sculpt_arm,
)
from relml.sparse.iterative import Cycle, imp_densities, member_metrics
from relml.sparse.masks import erk_densities, maskable_weights

SEEDS = [3, 4]


@pytest.fixture(scope="module")
def bench() -> cyclic.Testbed:
    d = digits()
    small = TensorSplit(d.x_train[:256], d.y_train[:256], d.x_test[:128], d.y_test[:128])
    return cyclic.Testbed(small, "mlp", 24)


CYCLE = Cycle(epochs=1, lr=0.1, batch_size=64)


def test_member_metrics_match_each_member_on_its_own():
    d = digits()
    ens = EnsembleMLP([64, 16, 16, 10], 3, generator=torch.Generator().manual_seed(0))
    got = member_metrics(ens, d, batch_size=100)  # batches must not change the means
    for r in range(3):
        net = ens.member(r)
        assert got["train_loss"][r].item() == pytest.approx(F.cross_entropy(net(d.x_train), d.y_train).item(),
                                                             rel=1e-5)
        acc = (net(d.x_test).argmax(1) == d.y_test).double().mean().item()
        assert got["acc"][r].item() == pytest.approx(acc)
    single = member_metrics(ens.member(1), d)
    assert single["acc"].shape == (1,) and single["acc"][0] == got["acc"][1]


def test_rounds_to_is_the_first_round_at_or_below_the_target():
    for target, rate in [(0.125, 0.5), (0.1, 0.2), (0.02, 0.2), (0.3, 0.5)]:
        r = rounds_to(target, rate)
        assert (1 - rate) ** r <= target + 1e-12 < (1 - rate) ** (r - 1)
    assert rounds_to(1.0, 0.2) == 0
    with pytest.raises(ValueError, match="rate"):
        rounds_to(0.1, 1.0)
    with pytest.raises(ValueError, match="density"):
        rounds_to(0.0, 0.2)


def test_density_weighted_epochs_is_the_sum_of_density_times_epochs():
    table = pd.DataFrame(dict(run=[0, 0, 0, 1, 1, 1], cycle=[0, 1, 2] * 2, density=[1.0, 0.5, 0.25] * 2,
                              epochs=[13, 16, 19] * 2))
    # 10 dense pretraining epochs, then cycles of 3 epochs at densities 1, 1/2, 1/4
    assert density_weighted_epochs(table, pretrain_epochs=10).tolist() == [13, 14.5, 15.25] * 2
    shuffled = table.sample(frac=1.0, random_state=0)
    assert density_weighted_epochs(shuffled, 10).sort_index().tolist() == [13, 14.5, 15.25] * 2


def test_random_start_masks_give_every_member_its_own_erk_mask():
    ens = EnsembleMLP([64, 32, 32, 10], 4)
    masks = random_start_masks(ens, 0.1, "erk", stacked=True, generator=torch.Generator().manual_seed(1))
    want = erk_densities(ens.member_shapes, 0.1)
    for m, p in zip(masks, want, strict=True):
        per_member = m.reshape(4, -1).mean(1)
        assert torch.allclose(per_member, torch.full((4,), p, dtype=m.dtype), atol=1 / m[0].numel())
    assert not torch.equal(masks[1][0], masks[1][1])
    total = sum(m.sum() for m in masks) / sum(m.numel() for m in masks)
    assert total.item() == pytest.approx(0.1, abs=0.005)


def test_fixed_mask_arm_keeps_its_density_and_spends_its_budget(bench):
    res = fixed_mask_arm(bench, CYCLE, 0.2, 3, SEEDS)
    assert len(res) == 3 * len(SEEDS) and set(res.seed) == set(SEEDS) and set(res.run) == {0, 1}
    for _, g in res.groupby("run"):
        assert g.density.nunique() == 1 and g.density.iloc[0] == pytest.approx(0.2, abs=0.01)
        assert g.epochs.tolist() == [1, 2, 3]
        assert np.allclose(g.cost, g.density * g.epochs)
    long = one_cycle_arm(bench, CYCLE, 0.2, 3, SEEDS)
    assert long.epochs.tolist() == [3, 3] and long.cycle.eq(0).all()
    # same seed, same random mask: equal realised densities, hence equal costs at equal budget
    assert np.allclose(long.cost.values, res[res.cycle == 2].cost.values)


def test_sculpt_is_the_cyclic_arm_then_one_prune_and_one_cycle(bench):
    sc = sculpt_arm(bench, CYCLE, 0.4, 0.05, 2, SEEDS)
    cyc = fixed_mask_arm(bench, CYCLE, 0.4, 2, SEEDS)
    cols = ["run", "seed", "density", "epochs", "cost", "train_loss", "acc"]
    head = sc[sc.cycle < 2][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, cyc[cols].reset_index(drop=True))
    last = sc[sc.cycle == 2]
    assert np.allclose(last.density, 0.05, atol=1e-3) and last.epochs.eq(3).all()
    assert np.allclose(last.cost, 2 * head.density[head.run == 0].iloc[0] + 0.05, atol=0.02)
    with pytest.raises(ValueError, match="below start_density"):
        sculpt_arm(bench, CYCLE, 0.1, 0.2, 2, SEEDS)


def test_iterative_arms_follow_imp_densities_to_the_target(bench):
    lrr = iterative_arm(bench, CYCLE, 0.2, 0.5, SEEDS)
    imp = iterative_arm(bench, CYCLE, 0.2, 0.5, SEEDS, rewind=True, pretrain_epochs=2)
    want = [1.0, 0.5, 0.25, 0.2]  # 1/8 would overshoot: the last round stops at the target
    assert rounds_to(0.2, 0.5) == 3 and imp_densities(3, 0.5)[-1] < 0.2
    for res, extra in ((lrr, 0), (imp, 2)):
        for _, g in res.groupby("run"):
            assert np.allclose(g.density, want, atol=1e-3)
            assert g.epochs.tolist() == [extra + 1, extra + 2, extra + 3, extra + 4]
            assert g.cost.iloc[-1] == pytest.approx(extra + sum(want), abs=1e-3)
    assert set(lrr.arm) == {"LRR"} and set(imp.arm) == {"IMP"}


def test_arm_summary_reads_the_last_cycle_of_every_arm(bench):
    runs = pd.concat([fixed_mask_arm(bench, CYCLE, 0.3, 2, SEEDS, name="a"),
                      one_cycle_arm(bench, CYCLE, 0.3, 2, SEEDS, name="b")], ignore_index=True)
    s = arm_summary(runs).set_index("arm")
    assert list(s.index) == ["a", "b"] and s.runs.eq(2).all() and s.epochs.eq(2).all()
    last_a = runs[(runs.arm == "a") & (runs.cycle == 1)]
    assert s.loc["a", "acc"] == pytest.approx(last_a.acc.mean())
    assert s.loc["a", "acc_min"] <= s.loc["a", "acc"] <= s.loc["a", "acc_max"]


def test_conv_testbed_trains_one_masked_resnet_per_seed():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32, generator=g), torch.arange(16) % 2
    bench = cyclic.Testbed(TensorSplit(x, y, x[:8], y[:8]), "resnet18", 1 / 16, "erk", augment=True)
    res = fixed_mask_arm(bench, Cycle(epochs=1, lr=0.01, batch_size=8), 0.1, 1, [0, 1])
    assert res.run.tolist() == [0, 1] and res.seed.tolist() == [0, 1]
    assert np.allclose(res.density, 0.1, atol=0.01)
    assert ((res.acc >= 0) & (res.acc <= 1)).all() and np.isfinite(res.train_loss).all()
    net, held = next(bench.build([5]))
    assert held == [5]
    assert len(maskable_weights(net)) == 21


def test_testbeds_validate_and_cifar_fails_clearly_offline(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="model"):
        cyclic.Testbed(digits(), "transformer")
    with pytest.raises(ValueError, match="allocation|method"):
        cyclic.Testbed(digits(), "mlp", 16, "snip")
    with pytest.raises(ValueError, match="the MLP runs on digits"):
        load_testbed("cifar10", "mlp", 16)
    monkeypatch.setenv("RELML_DATA", str(tmp_path))
    with pytest.raises(DataMissing, match="cifar-10-python.tar.gz"):
        load_testbed("cifar10", "resnet18", 1.0)
    assert load_testbed("digits", "mlp", 16).stacked
    with pytest.raises(ValueError, match="cycles"):
        fixed_mask_arm(load_testbed("digits", "mlp", 8), CYCLE, 0.5, 0, [0])
    assert math.isclose(rounds_to(0.5 ** 3, 0.5), 3)
