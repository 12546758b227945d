"""The arms of "Masks, Signs, and LRR": same start, transfer arms use LRR's masks and signs."""

import pytest
import torch

from relml.data import TensorSplit
from relml.models import EnsembleMLP
from relml.sparse.iterative import Cycle, imp_densities
from relml.sparse.lrr import ARMS, arms_table, lrr_arms, lrr_experiment, mask_comparison


def split(seed: int = 0) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(160, 5, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return TensorSplit(x[:120], y[:120], x[120:], y[120:])


def test_transfer_arms_use_lrrs_masks_and_all_arms_share_the_start():
    data = split()

    def make() -> EnsembleMLP:
        return EnsembleMLP([5, 16, 16, 3], 2, generator=torch.Generator().manual_seed(0), norm=True)

    runs = lrr_arms(make, data.train, Cycle(epochs=2, lr=0.1), imp_densities(2, 0.4), pretrain_epochs=1,
                    stacked=True, loss_fn=EnsembleMLP.loss)
    assert list(runs) == list(ARMS)
    for arm in ("imp_lrr_mask", "imp_lrr_mask_signs"):
        for ours, theirs in zip(runs[arm].masks, runs["lrr"].masks, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    first = {a: r.start_signs[0] for a, r in runs.items()}
    assert all(torch.equal(s, t) for s, t in zip(first["imp"], first["lrr"], strict=True))
    table = arms_table(runs)
    assert set(table.arm) == set(runs) and table.groupby("arm").epochs.max().nunique() == 1
    comp = mask_comparison(runs, stacked=True)
    assert len(comp) == 3 * 2 and comp.sign_gap.between(0, 1).all()
    assert (comp[comp.cycle == 0].overlap == 1).all() and comp.overlap.between(0, 1).all()  # dense start
    lrr_final = runs["lrr"].masks[-1]
    assert comp[comp.cycle == 2].lrr_layer_0.tolist() == lrr_final[0].reshape(2, -1).double().mean(1).tolist()


def test_experiment_runs_every_seed_and_rejects_unknown_arms():
    table, gap = lrr_experiment(split(), "mlp", 8, Cycle(epochs=1, lr=0.05), [1.0, 0.5], seeds=[3, 4],
                                arms=("imp", "lrr", "imp_lrr_mask"))
    assert sorted(table.run.unique()) == [3, 4] and {"acc", "train_loss"} <= set(table.columns)
    assert sorted(gap.run.unique()) == [3, 4]
    with pytest.raises(ValueError, match="subset"):
        lrr_arms(lambda: None, split().train, Cycle(epochs=1, lr=0.1), [1.0], arms=("magic",))


def test_conv_path_trains_one_resnet_per_seed_with_augmented_batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, 32, 32, generator=g)
    y = torch.arange(24) % 2
    data = TensorSplit(x[:16], y[:16], x[16:], y[16:])
    table, gap = lrr_experiment(data, "resnet18", 0.0625, Cycle(epochs=1, lr=0.05, batch_size=8), [1.0, 0.5],
                                seeds=[0], arms=("imp", "lrr", "imp_lrr_mask"))
    assert set(table.arm) == {"imp", "lrr", "imp_lrr_mask"} and table.run.unique().tolist() == [0]
    assert table[table.cycle == 1].density.to_numpy() == pytest.approx([0.5] * 3, abs=1e-3)
    assert len(gap) == 2


def test_nested_random_masks_keep_each_layers_density_and_nest():
    from relml.sparse.lrr import nested_random_masks

    ens = EnsembleMLP([5, 40, 20, 3], 2, generator=torch.Generator().manual_seed(0))
    dens = imp_densities(3, 0.3)
    levels = nested_random_masks(ens, dens, stacked=True, generator=torch.Generator().manual_seed(1))
    for d, masks in zip(dens, levels, strict=True):
        for m, w in zip(masks, ens.weights, strict=True):
            per_member = m.reshape(2, -1).sum(1)
            assert per_member.tolist() == [round(d * w[0].numel())] * 2  # every layer, every member
    for outer, inner in zip(levels, levels[1:], strict=False):
        assert all(torch.all(b <= a) for a, b in zip(outer, inner, strict=True))  # nested
    assert not torch.equal(levels[-1][1][0], levels[-1][1][1])  # members draw their own masks


def test_random_arms_share_one_draw_of_masks():
    runs = lrr_arms(lambda: EnsembleMLP([5, 16, 3], 2, generator=torch.Generator().manual_seed(0)),
                    split().train, Cycle(epochs=1, lr=0.1), imp_densities(2, 0.5),
                    arms=("imp_random", "lrr_random"), stacked=True, loss_fn=EnsembleMLP.loss)
    for a, b in zip(runs["imp_random"].masks, runs["lrr_random"].masks, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
