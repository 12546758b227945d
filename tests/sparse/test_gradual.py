"""Gradual magnitude pruning: the cubic schedule, exact counts, shrinking masks; sign-flip counting."""

import pytest
import torch
from torch import nn

from relml.models import EnsembleMLP
from relml.sparse.gradual import GradualMagnitudePruning, SignFlipCounter, cubic_sparsity, magnitude_masks
from relml.train import fit


def test_cubic_schedule_endpoints_and_shape():
    s = [cubic_sparsity(t, 0.9, start=10, end=110) for t in range(0, 130)]
    assert s[0] == s[10] == 0.0 and s[110] == s[129] == 0.9
    assert all(b >= a for a, b in zip(s, s[1:], strict=False))
    # s_t = s_f (1 − (1 − τ)³): at τ = 1/2 that is 7/8 of the way
    assert cubic_sparsity(60, 0.8, start=10, end=110) == pytest.approx(0.8 * 7 / 8)
    assert cubic_sparsity(5, 0.5, start=5, end=5) == 0.5  # start = end: one-shot
    with pytest.raises(ValueError, match="sparsity"):
        cubic_sparsity(1, 1.0, 0, 10)


def test_magnitude_masks_keep_the_largest_with_exact_counts():
    g = torch.Generator().manual_seed(0)
    w = [torch.randn(10, 7, generator=g), torch.randn(3, 5, generator=g) * 10]
    glob = magnitude_masks(w, 0.6, "global")
    assert sum(int(m.sum()) for m in glob) == 85 - round(0.6 * 85)
    kept = torch.cat([x[m == 1].abs() for x, m in zip(w, glob, strict=True)])
    dropped = torch.cat([x[m == 0].abs() for x, m in zip(w, glob, strict=True)])
    assert float(kept.min()) >= float(dropped.max())
    layer = magnitude_masks(w, 0.6, "layer")
    assert [int(m.sum()) for m in layer] == [70 - 42, 15 - 9]
    stacked = magnitude_masks([torch.randn(4, 6, 5, generator=g)], [0.0, 0.5, 0.8, 0.9], stacked=True)[0]
    assert stacked.reshape(4, -1).sum(1).tolist() == [30, 15, 6, 3]
    with pytest.raises(ValueError, match="stacked"):
        magnitude_masks(w, [0.1, 0.2])


def test_gradual_pruning_in_fit_reaches_each_members_target_and_masks_only_shrink():
    torch.manual_seed(0)
    model = EnsembleMLP([6, 16, 3], members=2)
    x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    gmp = GradualMagnitudePruning(model, [0.5, 0.9], start=2, end=12, every=2, stacked=True)
    snapshots = []

    class Watch:
        def on_step_end(self, model, step):
            snapshots.append([m.clone() for m in gmp.mask.masks])

    fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), epochs=8, batch_size=32,
        loss_fn=EnsembleMLP.loss, callbacks=[gmp, Watch()], progress=False)
    torch.testing.assert_close(gmp.member_sparsity(), torch.tensor([0.5, 0.9]), atol=0.01, rtol=0)
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        assert all(bool((a <= b).all()) for b, a in zip(before, after, strict=True))
    for w, m in zip(gmp.weights, gmp.mask.masks, strict=True):
        assert bool((w[m == 0] == 0).all())
    assert [s for s, _ in gmp.history] == [2, 4, 6, 8, 10, 12]


def test_sign_flip_counter_counts_opposite_nonzero_signs():
    w = nn.Parameter(torch.tensor([[1.0, -1.0, 2.0, 0.5]]))
    counter = SignFlipCounter([w])
    with torch.no_grad():
        w.copy_(torch.tensor([[-1.0, -2.0, 0.0, -0.5]]))  # two flips; 2 → 0 is a pruning, no flip
    counter.on_step_end(None, 1)
    with torch.no_grad():
        w.copy_(torch.tensor([[1.0, -2.0, 3.0, -0.5]]))  # one flip back; 0 → 3 is no flip
    counter.on_step_end(None, 2)
    assert counter.counts()[:, 0].tolist() == [2.0, 1.0]
    assert counter.flipped_since_start().tolist() == [1.0]  # net: only the last weight changed sign
    assert counter.on_epoch_end(None, 0) == {"sign_flips": 3.0}
