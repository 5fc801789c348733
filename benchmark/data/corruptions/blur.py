"""Blurs, as one batched filter on the batch's device. MedMNIST-C's settings are pixel sizes
at 224 px: here they are scaled by the image's shorter side over 224 (a 64 px image is blurred
as its 224 px original would have been). Gaussian blur takes ChestMNIST's settings; defocus
and motion blur, which ChestMNIST leaves out, DermaMNIST's."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from benchmark.data.corruptions._base import register_corruption

if TYPE_CHECKING:
    import torch


@register_corruption(
    "gaussian_blur",
    family="blur",
    settings=(3, 5, 7, 9, 11),
    description="Gaussian blur of kernel size k at 224 px (σ = 0.3·((k − 1)/2 − 1) + 0.8).",
)
def gaussian_blur(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    from benchmark.data.corruptions._common import depthwise, gaussian_kernel1d, size_scale

    scale = size_scale(x)
    sigma = (0.3 * ((size - 1) / 2 - 1) + 0.8) * scale  # torchvision's σ of kernel size k
    radius = max(1, math.ceil((size - 1) / 2 * scale))
    weights = gaussian_kernel1d(sigma, radius)
    return depthwise(depthwise(x, weights.view(1, -1)), weights.view(-1, 1))


@register_corruption(
    "defocus_blur",
    family="blur",
    settings=((4, 0.1), (5, 0.2), (6, 0.3), (7, 0.4), (8, 0.5)),
    description="Defocus: a disk of radius r at 224 px, its edge smoothed by a Gaussian of σ.",
)
def defocus_blur(
    x: torch.Tensor, setting: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    import torch
    from torch.nn import functional

    from benchmark.data.corruptions._common import depthwise, gaussian_kernel1d, size_scale

    radius, alias = setting[0] * size_scale(x), setting[1]
    reach = math.ceil(radius) + 1  # one more for the smoothing's spill
    offsets = torch.arange(-reach, reach + 1, dtype=torch.float64)
    disk = ((offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2) <= radius**2).double()
    disk /= disk.sum()
    smooth = gaussian_kernel1d(alias, 1).double()  # OpenCV's 3 × 3 Gaussian of the disk
    kernel = functional.conv2d(disk[None, None], (smooth.view(-1, 1) * smooth)[None, None],
                               padding=1)[0, 0]  # fmt: skip
    return depthwise(x, kernel.float())


@register_corruption(
    "motion_blur",
    family="blur",
    settings=((10, 5), (15, 5), (15, 8), (15, 12), (20, 15)),
    description="Motion blur: a streak of 2r + 1 px at 224 px, Gaussian weights of σ, at a "
    "random angle within ±45°.",
)
def motion_blur(
    x: torch.Tensor, setting: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    """Each tap is one gather of the whole batch (each image shifted by its own offset) from a
    copy padded by its edge pixels, as ImageMagick's virtual pixels are."""
    import torch
    from torch.nn import functional

    from benchmark.data.corruptions._common import size_scale

    n, c, h, w = x.shape
    scale = size_scale(x)
    radius, sigma = setting[0] * scale, setting[1] * scale
    taps = 2 * math.ceil(radius) + 1
    steps = torch.arange(taps, dtype=torch.float64)
    gauss = torch.exp(-(steps**2) / (2 * max(sigma, 1e-6) ** 2))
    weights = (gauss / gauss.sum()).tolist()
    angle = torch.deg2rad((torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * 45)
    dx = torch.ceil(steps.view(1, -1) * torch.cos(angle).view(-1, 1) - 0.5).long()  # N × taps
    dy = torch.ceil(steps.view(1, -1) * torch.sin(angle).view(-1, 1) - 0.5).long()
    pad = taps - 1
    padded = functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    wide = w + 2 * pad
    flat = padded.view(n, c, -1)
    rows = torch.arange(h, device=x.device).view(-1, 1) + pad
    cols = torch.arange(w, device=x.device).view(1, -1) + pad
    base = (rows * wide + cols).view(1, 1, -1)  # each output pixel's own place, unshifted
    shifts = (dy * wide + dx).to(x.device)  # N × taps
    out = torch.zeros_like(x).view(n, c, -1)
    for k, weight in enumerate(weights):
        index = (base + shifts[:, k].view(n, 1, 1)).expand(n, c, -1)
        out.add_(flat.gather(2, index), alpha=weight)
    return out.view(n, c, h, w)
