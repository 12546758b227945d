import numpy as np
import pytest
import torch
import torch.nn.functional as F

from relml.data import gaussian_mixture
from relml.models import MLP, EnsembleMLP, MemberAccuracy
from relml.sparse import MaskCallback, random_masks
from relml.train import batches, fit

SIZES = [6, 24, 24, 3]
DATA = gaussian_mixture(160, 6, 3, seed=2)


def test_mlp_shapes_and_he_init():
    model = MLP([100, 400, 10], generator=torch.Generator().manual_seed(0))
    assert model(torch.randn(7, 100)).shape == (7, 10)
    w = model.layers[0].weight
    assert w.std().item() == pytest.approx(np.sqrt(2 / 100), rel=0.02)
    assert torch.all(model.layers[0].bias == 0)
    model.reset_parameters(torch.Generator().manual_seed(0), densities=[0.25, 1.0])
    # ER_init: He scaled by 1/sqrt(density)
    assert model.layers[0].weight.std().item() == pytest.approx(np.sqrt(2 / (0.25 * 100)), rel=0.02)


def test_ensemble_er_init_scales_each_member():
    ens = EnsembleMLP([200, 300, 5], 3)
    dens = np.array([[1.0, 1.0], [0.25, 1.0], [0.04, 0.5]])
    ens.reset_parameters(torch.Generator().manual_seed(0), densities=dens)
    stds = ens.weights[0].std(dim=(1, 2))
    assert torch.allclose(stds, torch.tensor(np.sqrt(2 / (200 * dens[:, 0]))).float(), rtol=0.03)


def test_member_and_from_mlps_round_trip():
    ens = EnsembleMLP(SIZES, 4, generator=torch.Generator().manual_seed(1))
    x = torch.randn(9, 6)
    out = ens(x)
    for r in range(4):
        assert torch.allclose(ens.member(r)(x), out[r], atol=1e-6)
    again = EnsembleMLP.from_mlps([ens.member(r) for r in range(4)])
    assert all(torch.equal(a, b) for a, b in zip(ens.parameters(), again.parameters(), strict=True))


def test_ensemble_loss_is_the_sum_of_member_losses():
    ens = EnsembleMLP(SIZES, 3)
    x, y = DATA[0][:20], DATA[1][:20]
    out = ens(x)
    assert ens.loss(out, y).item() == pytest.approx(sum(F.cross_entropy(o, y).item() for o in out))


def test_masked_ensemble_trains_exactly_like_separate_mlps():
    R, gen = 4, torch.Generator().manual_seed(0)
    ens = EnsembleMLP(SIZES, R, generator=gen)
    dens = [np.array([1.0, 0.5, 0.2, 0.1])] * 3
    masks = random_masks(ens, dens, gen)
    singles = [ens.member(r) for r in range(R)]
    cbs = [MaskCallback(m, [mk[r].T for mk in masks]) for r, m in enumerate(singles)]
    ens_cb = MaskCallback(ens, masks)

    opt = torch.optim.Adam(ens.parameters(), lr=0.01)
    fit(ens, DATA, opt, epochs=3, batch_size=32, loss_fn=ens.loss, callbacks=[ens_cb], progress=False,
        seed=5)
    for model, cb in zip(singles, cbs, strict=True):
        fit(model, DATA, torch.optim.Adam(model.parameters(), lr=0.01), epochs=3, batch_size=32,
            callbacks=[cb], progress=False, seed=5)
    for r, model in enumerate(singles):
        for layer, w, b in zip(model.layers, ens.weights, ens.biases, strict=True):
            assert torch.allclose(layer.weight, w[r].T, atol=1e-5)
            assert torch.allclose(layer.bias, b[r], atol=1e-5)
    # and the members really trained and differ
    assert not torch.allclose(ens.weights[1][0], ens.weights[1][1])


def test_member_accuracy_callback_and_accuracy():
    ens = EnsembleMLP(SIZES, 2)
    x, y = DATA
    hist = fit(ens, DATA, torch.optim.Adam(ens.parameters(), lr=0.02), epochs=4, loss_fn=ens.loss,
               callbacks=[MemberAccuracy(x, y)], progress=False)
    acc = ens.accuracy(x, y)
    assert acc.shape == (2,) and hist.last["acc_1"] == pytest.approx(acc[1].item())
    manual = [(ens.member(r)(x).argmax(-1) == y).float().mean().item() for r in range(2)]
    assert np.allclose(acc.numpy(), manual)
    assert len(list(batches(DATA, 64))) == 3


@pytest.mark.parametrize("kwargs,match", [
    (dict(sizes=[6]), "widths"), (dict(sizes=[6, 0, 3]), "widths"), (dict(sizes=[6, 2.5, 3]), "widths"),
    (dict(sizes=[6, 4], activation="softplus"), "activation"),
])
def test_bad_mlp_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)
    with pytest.raises(ValueError, match=match):
        EnsembleMLP(members=2, **kwargs)


def test_bad_ensemble_arguments_raise():
    with pytest.raises(ValueError, match="members"):
        EnsembleMLP(SIZES, 0)
    ens = EnsembleMLP(SIZES, 2)
    with pytest.raises(ValueError, match="shape"):
        ens(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(members, layers\)"):
        ens.reset_parameters(densities=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ens.reset_parameters(densities=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="member index"):
        ens.member(2)


def test_ensemble_batch_norm_normalises_each_member_and_is_not_pruned():
    from relml.sparse.masks import maskable_weights

    torch.manual_seed(0)
    ens = EnsembleMLP([4, 8, 3], members=2, norm=True, momentum=1.0)
    x = torch.randn(2, 64, 4) * torch.tensor([1.0, 10.0])[:, None, None] + 3.0  # two very different inputs
    pre = torch.baddbmm(ens.biases[0].unsqueeze(1), x, ens.weights[0])
    normed = ens._batch_norm(pre, 0)
    assert torch.allclose(normed.mean(1), torch.zeros(2, 8), atol=1e-5)
    assert torch.allclose(normed.var(1, unbiased=False), torch.ones(2, 8), atol=1e-3)
    assert torch.allclose(ens.running_mean_0, pre.mean(1))  # momentum 1: the last batch's statistics
    ens.eval()
    assert torch.allclose(ens._batch_norm(pre, 0), normed * (63 / 64) ** 0.5, atol=1e-4)  # unbiased
    assert maskable_weights(ens) == list(ens.weights)  # BN's γ (R, h) is not a prunable weight
    with pytest.raises(ValueError, match="norm=True"):
        ens.member(0)
