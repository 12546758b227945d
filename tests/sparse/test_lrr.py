"""The arms of "Masks, Signs, and LRR": same start, transfer arms use LRR's masks and signs."""

import pytest
import torch

from relml.data import TensorSplit
from relml.models import EnsembleMLP
from relml.sparse.iterative import Cycle, imp_densities
from relml.sparse.lrr import arms_table, lrr_arms, lrr_experiment, sign_transfer_gap


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
    assert list(runs) == ["imp", "lrr", "imp_lrr_mask", "imp_lrr_mask_signs"]
    for arm in ("imp_lrr_mask", "imp_lrr_mask_signs"):
        for ours, theirs in zip(runs[arm].masks, runs["lrr"].masks, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    first = {a: r.start_signs[0] for a, r in runs.items()}
    assert all(torch.equal(s, t) for s, t in zip(first["imp"], first["lrr"], strict=True))
    table = arms_table(runs)
    assert set(table.arm) == set(runs) and table.groupby("arm").epochs.max().nunique() == 1
    gap = sign_transfer_gap(runs, stacked=True)
    assert gap.sign_gap.between(0, 1).all() and len(gap) == 3 * 2


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
