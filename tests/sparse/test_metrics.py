"""Mask and sign metrics: per-layer density, Jaccard overlap, sign-flip fraction on survivors."""

import pytest
import torch

from relml.sparse.metrics import density_of, layer_densities_of, mask_overlap, sign_flip_fraction


def test_layer_densities_per_layer_and_per_member():
    masks = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.zeros(3, 1)]
    assert layer_densities_of(masks).tolist() == [0.75, 0.0]
    stacked = [torch.tensor([[1.0, 1.0], [0.0, 1.0]])]  # two members of one layer
    assert layer_densities_of(stacked, stacked=True).tolist() == [[1.0], [0.5]]


def test_density_of_weighs_layers_by_size():
    masks = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.zeros(3, 1)]
    assert density_of(masks) == pytest.approx(3 / 7)
    stacked = [torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor([[1.0], [0.0]])]
    assert density_of(stacked, stacked=True).tolist() == pytest.approx([1.0, 1 / 3])
    with pytest.raises(ValueError, match="at least one"):
        density_of([])


def test_mask_overlap_is_jaccard():
    a = [torch.tensor([1.0, 1.0, 0.0, 0.0])]
    b = [torch.tensor([1.0, 0.0, 1.0, 0.0])]
    assert mask_overlap(a, a) == 1.0
    assert mask_overlap(a, b) == pytest.approx(1 / 3)
    assert mask_overlap(a, [torch.zeros(4)]) == 0.0
    with pytest.raises(ValueError, match="one tensor per layer"):
        mask_overlap(a, b + b)
    with pytest.raises(ValueError, match="shapes"):
        mask_overlap(a, [torch.ones(5)])


def test_sign_flip_fraction_counts_only_surviving_nonzero_weights():
    w = [torch.tensor([1.0, -2.0, 3.0, -4.0, 0.0])]
    ref = [torch.tensor([1.0, 2.0, -3.0, -4.0, 5.0])]
    assert sign_flip_fraction(w, ref) == pytest.approx(2 / 4)  # the zero weight does not count
    mask = [torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0])]
    assert sign_flip_fraction(w, ref, mask) == pytest.approx(1 / 3)
    assert sign_flip_fraction(w, ref, [torch.zeros(5)]) == 0.0
    per_member = sign_flip_fraction([torch.tensor([[1.0, -1.0], [1.0, 1.0]])], [torch.ones(2, 2)],
                                    stacked=True)
    assert per_member.tolist() == [0.5, 0.0]
