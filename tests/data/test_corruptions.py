"""The corruptions' contract, over every registered kind and severity: the batch's shape,
dtype and device kept, values within 0–255, the input untouched, the same seed the same
result, a grey image grey, and severity 5 further from the clean image than severity 1;
then a few kinds against values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from benchmark.data import Batches
from benchmark.data.corruptions import (
    SEVERITIES,
    Corruption,
    corrupt,
    get_corruption,
    list_corruptions,
)
from benchmark.errors import MedbenchError
from benchmark.registry import UnknownNameError

KINDS = [c.name for c in list_corruptions()]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _images(n: int = 4, size: int = 48, channels: int = 3) -> torch.Tensor:
    """Smooth gradients with a bright square and some texture, within 20–230 (nothing
    clipped to begin with), float 0–255."""
    g = torch.Generator().manual_seed(7)
    ramp = torch.linspace(0, 1, size)
    base = 40 + 120 * (ramp.view(1, 1, -1, 1) * ramp.view(1, 1, 1, -1))
    x = base + torch.rand(n, channels, 1, 1, generator=g) * 30
    x = x + torch.rand(n, channels, size, size, generator=g) * 20
    x[:, :, size // 4 : size // 2, size // 4 : size // 2] += 50
    return x.clamp(20, 230)


def _grey(n: int = 4, size: int = 48) -> torch.Tensor:
    return _images(n, size, channels=1).expand(-1, 3, -1, -1).contiguous()


def test_the_kinds_are_medmnist_c_s():
    assert set(KINDS) == {
        "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
        "gaussian_blur", "defocus_blur", "motion_blur",
        "brightness_up", "brightness_down", "contrast_up", "contrast_down",
        "gamma_corr_up", "gamma_corr_down", "pixelate", "jpeg_compression",
    }  # fmt: skip
    assert all(len(c.settings) == len(SEVERITIES) for c in list_corruptions())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_keeps_the_batch_and_its_range_and_is_seeded(kind, severity, device):
    x = _images().to(device)
    before = x.clone()
    out = Corruption(kind, severity)(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.min() >= 0 and out.max() <= 255 and torch.isfinite(out).all()
    assert torch.equal(x, before)  # the input untouched
    again = Corruption(kind, severity)(x, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    grey = corrupt(_grey().to(device), kind, severity, torch.Generator().manual_seed(3))
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 0], grey[:, 2])
    single = corrupt(_images(channels=1).to(device), kind, severity, torch.Generator())
    assert single.shape == (4, 1, 48, 48)
    pixels = corrupt(x.round().to(torch.uint8), kind, severity, torch.Generator())
    assert pixels.dtype == torch.uint8 and pixels.shape == x.shape


@pytest.mark.parametrize("kind", KINDS)
def test_severity_5_corrupts_more_than_severity_1(kind):
    x = _images(size=64)

    def distance(severity: int) -> float:
        out = corrupt(x, kind, severity, torch.Generator().manual_seed(0))
        return float((out - x).abs().mean())

    assert distance(5) > distance(1) > 0


def test_a_corruption_is_a_batches_augmentation():
    images = _images(6).round().to(torch.uint8)
    common = dict(indices=range(6), batch_size=4, mean=(0.5,) * 3, std=(0.25,) * 3, seed=1)
    clean = torch.cat([x for x, _ in Batches(images, torch.zeros(6), **common)])
    noisy = Batches(images, torch.zeros(6), augment=Corruption("gaussian_noise", 5), **common)
    corrupted = torch.cat([x for x, _ in noisy])
    assert corrupted.shape == clean.shape and not torch.allclose(corrupted, clean)
    twice = Batches(images, torch.zeros(6), augment=Corruption("gaussian_noise", 5), **common)
    assert torch.equal(torch.cat([x for x, _ in twice]), corrupted)  # seeded by the batches


def test_unknown_kinds_and_severities_are_refused_in_one_line():
    with pytest.raises(UnknownNameError, match="Did you mean 'gaussian_noise'"):
        Corruption("gausian_noise", 1)
    with pytest.raises(MedbenchError, match=r"no severity 6: expected one of \[1, 2, 3, 4, 5\]"):
        Corruption("pixelate", 6)
    with pytest.raises(MedbenchError, match="N × C × H × W"):
        corrupt(torch.zeros(2, 48, 48), "pixelate", 1, torch.Generator())


def test_intensities_against_values_worked_by_hand():
    x = torch.tensor([0.0, 100.0, 127.5, 250.0]).view(1, 1, 2, 2)
    g = torch.Generator()
    bright = corrupt(x, "brightness_up", 3, g).flatten().tolist()  # x·1.3, clipped
    assert bright == pytest.approx([0.0, 130.0, 165.75, 255.0])
    gamma = corrupt(x, "gamma_corr_up", 5, g).flatten().tolist()  # 255·(x/255)^1.6
    assert gamma == pytest.approx(
        [0.0, 255 * (100 / 255) ** 1.6, 255 * 0.5**1.6, 255 * (250 / 255) ** 1.6]
    )
    # Contrast at 0.4 around the rounded mean grey level, (0 + 100 + 127.5 + 250)/4 = 119.375 → 119
    low = corrupt(x, "contrast_down", 5, g).flatten().tolist()
    assert low == pytest.approx([119 + 0.4 * (v - 119) for v in (0.0, 100.0, 127.5, 250.0)])
    rgb = torch.tensor([200.0, 100.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # luma 118.5 → 119
    up = corrupt(rgb, "contrast_up", 5, g)[0, :, 0, 0].tolist()
    assert up == pytest.approx([119 + 1.6 * 81, 119 - 1.6 * 19, 0.0])  # the last clipped at 0


def test_pixelate_averages_blocks_and_noise_has_its_strength():
    x = torch.arange(40.0).view(1, 1, 1, 40).expand(1, 1, 40, 40) * 5  # columns 0, 5, ... 195
    out = corrupt(x, "pixelate", 5, torch.Generator())  # 10 % of 40 px: 4 blocks of 10 × 10
    assert out[0, 0, 0, :10].tolist() == [22.5] * 10  # the mean of columns 0–9: 5 · 4.5
    assert torch.equal(out[0, 0, :, 35], torch.full((40,), 5 * 34.5))
    flat = torch.full((1, 1, 256, 256), 128.0)
    noise = corrupt(flat, "gaussian_noise", 1, torch.Generator().manual_seed(0)) - flat
    assert float(noise.std()) == pytest.approx(0.04 * 255, rel=0.03)
    salted = corrupt(flat, "impulse_noise", 5, torch.Generator().manual_seed(0))
    assert float((salted == 255).float().mean()) == pytest.approx(0.085, abs=0.005)
    assert float((salted == 0).float().mean()) == pytest.approx(0.085, abs=0.005)
    assert float((salted == 128).float().mean()) == pytest.approx(0.83, abs=0.01)


def test_blurs_keep_a_flat_image_and_the_mean():
    flat = torch.full((2, 3, 40, 40), 90.0)
    for kind in ("gaussian_blur", "defocus_blur", "motion_blur"):
        out = corrupt(flat, kind, 5, torch.Generator())
        assert torch.allclose(out, flat, atol=1e-3), kind
    assert get_corruption("motion_blur").setting(5) == (20, 15)
