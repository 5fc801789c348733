"""Batched augmentation: per-image settings within their bounds, drawn as configured,
seeded, and applied to the whole batch at once."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.data import create_augment
from benchmark.data.augment import Augment


def _square(n: int = 64, size: int = 64) -> torch.Tensor:
    x = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    x[:, :, 24:40, 24:40] = 200
    return x


def _centroid(images: torch.Tensor) -> torch.Tensor:
    """(x, y) of each image's brightness, in pixels."""
    w = images.float()[:, 0]
    grid = torch.arange(w.shape[-1], dtype=torch.float)
    total = w.sum(dim=(1, 2)).clamp(min=1)
    return torch.stack([(w.sum(1) * grid).sum(1) / total, (w.sum(2) * grid).sum(1) / total], -1)


def test_nothing_asked_is_nothing_done_and_dtypes_are_kept():
    assert create_augment() is None
    images = _square()
    still = Augment(rotate=1e-9)(images)
    assert still.dtype == torch.uint8 and torch.equal(still, images)
    floats = Augment(rotate=5)(images.float(), torch.Generator().manual_seed(0))
    assert floats.dtype == torch.float32 and floats.shape == images.shape
    assert floats.min() >= 0 and floats.max() <= 255


def test_settings_are_drawn_per_image_within_their_bounds():
    n = 4000
    generator = torch.Generator().manual_seed(1)
    theta = Augment(rotate=10, shift=0.1, zoom=0.2).draw_affine(n, generator)
    matrix, offset = theta[:, :, :2], theta[:, :, 2]
    forward = torch.linalg.inv(matrix)  # input → output: scale × rotation
    scale = torch.sqrt(torch.linalg.det(forward))
    angle = torch.rad2deg(torch.atan2(forward[:, 1, 0], forward[:, 0, 0]))
    shift = -(forward @ offset.unsqueeze(-1)).squeeze(-1) / 2  # back to fractions of the size
    assert (
        angle.abs().max() <= 10 + 1e-4
        and 10 / math.sqrt(3) * 0.9 < angle.std() < 10 / math.sqrt(3) * 1.1
    )
    assert scale.min() >= 0.8 - 1e-4 and scale.max() <= 1.2 + 1e-4
    assert shift.abs().max() <= 0.1 + 1e-4 and abs(shift.mean()) < 0.01
    assert len({round(a, 6) for a in angle.tolist()}) > n * 0.99  # every image its own
    flips = Augment(hflip=True, vflip=True).draw_affine(n, torch.Generator().manual_seed(2))
    assert 0.45 < (flips[:, 0, 0] < 0).float().mean() < 0.55
    assert 0.45 < (flips[:, 1, 1] < 0).float().mean() < 0.55
    brightness, contrast = Augment(brightness=0.3, contrast=0.2).draw_light(n, generator)
    assert brightness.min() >= 0.7 - 1e-6 and brightness.max() <= 1.3 + 1e-6
    assert contrast.min() >= 0.8 - 1e-6 and contrast.max() <= 1.2 + 1e-6


def test_the_images_move_as_their_settings_say():
    images = _square(256)
    shifted = Augment(shift=0.1)(images, torch.Generator().manual_seed(3))
    moved = _centroid(shifted) - _centroid(images)
    assert moved.abs().max() <= 0.1 * 64 + 1 and moved.abs().mean() > 1  # within ±10 %
    flipped = Augment(hflip=True)(
        images[:1].repeat(64, 1, 1, 1) * 0 + _half(), torch.Generator().manual_seed(4)
    )
    left = flipped[:, 0, :, :32].float().mean(dim=(1, 2))
    assert set(left.tolist()) == {0.0, 200.0}  # exact: flips are not resampled
    lit = Augment(brightness=0.5)(images, torch.Generator().manual_seed(5))
    ratio = lit[:, 0, 30, 30].float() / 200
    assert ratio.min() >= 0.5 - 0.01 and ratio.max() <= 1.275 + 0.01  # 200 × 1.5 clips at 255
    assert ratio.std() > 0.1


def _half() -> torch.Tensor:
    x = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    x[..., :32] = 200
    return x


def test_the_same_seed_gives_the_same_batch():
    images = _square(16)
    augment = Augment(rotate=15, shift=0.05, shear=5, zoom=0.1, hflip=True, contrast=0.2)
    a = augment(images, torch.Generator().manual_seed(7))
    b = augment(images, torch.Generator().manual_seed(7))
    c = augment(images, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len({bytes(img.numpy()) for img in a}) == 16


@pytest.mark.parametrize("channels", [1, 3])
def test_gray_and_colour_batches(channels):
    images = torch.randint(0, 255, (8, channels, 32, 32), dtype=torch.uint8)
    out = Augment(rotate=10, brightness=0.2, contrast=0.2)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
