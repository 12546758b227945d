import torch

from relml.data.augment import AugmentedBatches, random_crop_flip


def test_crop_flip_moves_pixels_without_changing_them():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    kept = out[out != 0]  # zero fill where the crop left the image
    assert set(kept.tolist()) <= set(x.flatten().tolist())
    assert torch.equal(random_crop_flip(x, torch.Generator().manual_seed(0), pad=0).flip(-1).flip(-1),
                       random_crop_flip(x, torch.Generator().manual_seed(0), pad=0))


def test_batches_cover_the_data_each_epoch_in_a_new_order():
    x, y = torch.randn(10, 1, 4, 4), torch.arange(10)
    batches = AugmentedBatches(x, y, batch_size=4, seed=0)
    first = torch.cat([b[1] for b in batches])
    second = torch.cat([b[1] for b in batches])
    assert len(batches) == 3 and sorted(first.tolist()) == list(range(10))
    assert not torch.equal(first, second)
