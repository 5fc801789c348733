"""Where a cell's images live and how its batches are built: the same batches wherever the
images were placed, in the order and with the augmentation the seed says."""

from __future__ import annotations

import pytest
import torch

from benchmark.data import Batches, create_augment, normalize, place_images
from benchmark.data.batches import device_budget
from benchmark.errors import MedbenchError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _data(n: int = 20):
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 1, 24, 24), dtype=torch.uint8, generator=generator)
    return images, torch.arange(n) % 3


def test_the_budget_of_a_device_is_a_setting(monkeypatch):
    assert device_budget(torch.device("cpu")) == 0  # a CPU trains from the images as they are
    gpu = torch.device("cuda", 0)
    monkeypatch.setenv("MEDBENCH_DATA_ON_DEVICE", "off")
    assert device_budget(gpu) == 0
    monkeypatch.setenv("MEDBENCH_DATA_ON_DEVICE", "1.5")
    assert device_budget(gpu) == int(1.5 * 2**30)
    monkeypatch.setenv("MEDBENCH_DATA_ON_DEVICE", "lots")
    with pytest.raises(MedbenchError, match=r"MEDBENCH_DATA_ON_DEVICE='lots'.*auto, off"):
        device_budget(gpu)


def test_placed_images_give_the_batches_a_seed_says():
    images, labels = _data()
    assert place_images(images, torch.device("cpu")) is images  # no copy on a CPU
    augment = create_augment(rotate=15, shift=0.1, hflip=True, brightness=0.2, contrast=0.2)

    def batches(pixels):
        return list(Batches(pixels, labels, indices=range(2, 20), batch_size=8, mean=MEAN,
                            std=STD, augment=augment, shuffle=True, seed=7))  # fmt: skip

    placed = batches(place_images(images, torch.device("cpu")))
    # By hand: the seeded order, each chunk gathered, augmented with the next draws of the
    # same generator, normalised.
    generator = torch.Generator().manual_seed(7)
    order = torch.arange(2, 20)[torch.randperm(18, generator=generator)]
    expected = []
    for start in range(0, 18, 8):
        idx = order[start : start + 8]
        x = augment(images[idx].float(), generator)
        expected.append((normalize(x, mean=MEAN, std=STD), labels[idx]))
    assert len(placed) == len(expected) == 3
    for (x, y), (ex, ey) in zip(placed, expected, strict=True):
        assert x.shape == (len(y), 3, 24, 24) and torch.equal(y, ey)
        assert torch.allclose(x, ex)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(placed, batches(images), strict=True))


def test_an_epoch_copies_no_python_lists_to_the_device(monkeypatch):
    """A tensor built from a Python list on a GPU is a blocking copy: the constants of the
    normalisation and the augmentation are built once, never per batch."""
    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8)
    augment = create_augment(rotate=10, hflip=True, brightness=0.2, contrast=0.2)
    batches = Batches(images, torch.arange(40) % 2, indices=range(40), batch_size=8, mean=MEAN,
                      std=STD, augment=augment, shuffle=True)  # fmt: skip
    next(iter(batches))  # constants that are built once per device, built
    built = []
    original = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: built.append(a) or original(*a, **k))
    for _ in range(3):
        assert sum(len(y) for _, y in batches) == 40
    assert built == []


def test_drop_last_leaves_out_the_partial_batch():
    images = torch.zeros(20, 1, 8, 8, dtype=torch.uint8)
    batches = Batches(images, torch.zeros(20, dtype=torch.long), indices=range(20),
                      batch_size=8, mean=MEAN[:1], std=STD[:1], shuffle=True)  # fmt: skip
    assert [len(y) for _, y in batches.epoch(drop_last=True)] == [8, 8]
    assert [len(y) for _, y in batches] == [8, 8, 4]
