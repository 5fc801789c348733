"""Helpers the corruption families share (torch is imported by their callers first)."""

from __future__ import annotations

import torch
from torch.nn import functional

REFERENCE_SIZE = 224  # the image side MedMNIST-C's spatial settings were chosen at


def size_scale(x: torch.Tensor) -> float:
    """How much smaller than MedMNIST-C's 224 px images ``x`` is (its shorter side over 224):
    a blur's radius in pixels is scaled by it, so a 64 px image is blurred as its 224 px
    original would have been, then downsampled."""
    return min(x.shape[-2:]) / REFERENCE_SIZE


def device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded by one draw of the caller's CPU ``generator``:
    per-pixel noise is drawn where the batch is, never copied over the bus."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device).manual_seed(seed)


def same_for_grey(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values`` (shaped as ``x``) with channel 0's copied to every channel of the images of
    ``x`` that are grey (three equal channels): a grey image gets grey noise, as a
    single-channel image would."""
    if x.shape[1] == 1:
        return values
    grey = (x[:, 1:] == x[:, :1]).flatten(1).all(1).view(-1, 1, 1, 1)
    return torch.where(grey, values[:, :1].expand_as(values), values)


def depthwise(x: torch.Tensor, kernel: torch.Tensor, *, mode: str = "reflect") -> torch.Tensor:
    """``x`` (N × C × H × W) filtered channel by channel with one odd-sized 2-D ``kernel``
    (kh × kw), borders padded by ``mode`` (OpenCV's default border is ``reflect``)."""
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"  # reflection needs a border narrower than the image
    flat = functional.pad(x.reshape(n * c, 1, h, w), (pw, pw, ph, ph), mode=mode)
    out = functional.conv2d(flat, kernel.to(x.device, x.dtype).view(1, 1, kh, kw))
    return out.view(n, c, h, w)


def gaussian_kernel1d(sigma: float, radius: int) -> torch.Tensor:
    """Normalised Gaussian weights at offsets −radius … radius."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-(offsets**2) / (2 * max(sigma, 1e-6) ** 2))
    return (weights / weights.sum()).float()
