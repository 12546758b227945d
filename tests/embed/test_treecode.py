"""The 2-D treecode against the exact repulsive sums."""

import pytest
import torch

from relml.embed.treecode import density_repulsion_tree
from relml.kernels.dtsne_triton import density_repulsion_torch


@pytest.fixture(scope="module")
def layout():
    """Clusters of very different spread and density scale, as dtSNE makes them."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (1500,), generator=g)
    spread = torch.tensor([1.0, 2.0, 4.0, 8.0])
    y = torch.randn(4, 2, generator=g, dtype=torch.float64)[labels] * 60
    y += torch.randn(1500, 2, generator=g, dtype=torch.float64) * spread[labels, None].double() * 5
    u = spread[labels].double() * (1 + 0.2 * torch.rand(1500, generator=g, dtype=torch.float64))
    return y, u


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_tree_sums_are_within_one_percent_of_exact(layout, alpha):
    y, u = layout
    z0, f0 = density_repulsion_torch(y, u, alpha)
    z1, f1 = density_repulsion_tree(y, u, alpha)
    assert abs(z1.sum() / z0.sum() - 1) < 1e-3
    assert (f1 - f0).norm() / f0.norm() < 1e-2


def test_tree_is_exact_when_every_neighbourhood_is_near(layout):
    y, u = layout[0][:200], layout[1][:200]
    z0, f0 = density_repulsion_torch(y, u)
    z1, f1 = density_repulsion_tree(y, u, leaf_size=200)
    torch.testing.assert_close(z1, z0)
    torch.testing.assert_close(f1, f0)


def test_tree_is_translation_invariant_and_rejects_bad_shapes(layout):
    y, u = layout
    z0, f0 = density_repulsion_tree(y, u)
    z1, f1 = density_repulsion_tree(y + 1e3, u)
    torch.testing.assert_close(z1, z0, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(f1, f0, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        density_repulsion_tree(torch.zeros(5, 3), torch.ones(5))


def test_cell_expansion_is_exact_to_second_order():
    """The error of a cell's expansion shrinks like the cube of its spread (in position and scale)."""
    from relml.embed.treecode import _far_field, _Level

    g = torch.Generator().manual_seed(0)
    base_y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    base_u = torch.randn(40, generator=g, dtype=torch.float64)
    target, u_t = torch.tensor([[3.0, 1.0]], dtype=torch.float64), torch.tensor([1.5], dtype=torch.float64)
    errors = []
    for eps in (0.4, 0.2, 0.1):
        ys, us = torch.tensor([0.5, -0.2]) + eps * base_y, 2.0 + eps * base_u
        z0, f0 = density_repulsion_torch(torch.cat([target, ys]), torch.cat([u_t, us]))
        cell = _Level(torch.full_like(ys, 0.5), ys, us, level=0)  # one cell holding all 40 points
        z1, d0, d1 = _far_field(target[:, 0], target[:, 1], u_t, cell, torch.zeros(1, dtype=torch.int64), 1.0,
                                u_tol=0.0)
        errors.append(max(abs(z1[0] - z0[0]).item(), abs(d0[0] - f0[0, 0]).item(),
                          abs(d1[0] - f0[0, 1]).item()))
    assert errors[0] / errors[1] > 6 and errors[1] / errors[2] > 6
