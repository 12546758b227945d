import numpy as np
import pytest
import torch

from relml.data import TensorSplit, digits
from relml.sparse.er_training import Recipe, er_sweep, source_shapes, train_conv_arm, train_mlp_arms


def test_source_shapes_list_every_maskable_weight():
    assert source_shapes("mlp", 32) == [(64, 32), (32, 32), (32, 10)]
    shapes = source_shapes("resnet18", 0.125)
    assert len(shapes) == 21 and shapes[0] == (8, 3, 3, 3) and shapes[-1] == (10, 64)


def test_mlp_arms_keep_their_masks_and_learn():
    data = digits()
    recipe = Recipe(epochs=2, seed=1)
    ens, dens, _ = train_mlp_arms(data, 32, [("dense", 1.0), ("erk", 0.1)], 2, recipe)
    assert dens.shape == (4, 3) and np.allclose(dens[:2], 1.0)
    kept = [(w[2:] != 0).float().mean().item() for w in ens.weights]
    assert np.allclose(kept, dens[2], atol=0.02)
    acc = ens.accuracy(*data.test)
    assert (acc[:2] > 0.6).all() and (acc[2:] > 0.12).all()  # dense learns; 10% ER beats chance


def test_sweep_has_one_row_per_arm_width_and_run():
    res = er_sweep(digits(), "mlp", (16, 32), 32, (0.5, 0.1), ("uniform", "erk"), 2, Recipe(epochs=1))
    # width 32: dense + 2 methods x 2 densities; width 16: dense + 2 methods at the lowest density
    assert len(res) == 2 * (5 + 3) and set(res.run) == {0, 1}
    assert res[(res.width == 16) & (res.method != "dense")].density.eq(0.1).all()


def test_conv_arm_trains_a_masked_resnet():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32, generator=g), torch.arange(16) % 2
    acc = train_conv_arm(TensorSplit(x, y, x, y), "resnet18", 0.0625, ("balanced", 0.2), 0,
                         Recipe(optimizer="sgd", epochs=1, lr=0.01, batch_size=8))
    assert 0.0 <= acc <= 1.0
    with pytest.raises(ValueError, match="'adam' or 'sgd'"):
        Recipe(optimizer="lion")
