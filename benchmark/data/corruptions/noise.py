"""Noise, drawn per pixel on the batch's device (see ``_base`` on the generators): MedMNIST-C's
settings for ChestMNIST (the same as DermaMNIST's), in units of the 0–1 range. A grey image
(one channel, or three equal ones) gets the same noise in every channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.data.corruptions._base import register_corruption

if TYPE_CHECKING:
    import torch


@register_corruption(
    "gaussian_noise",
    family="noise",
    settings=(0.04, 0.08, 0.12, 0.18, 0.26),
    description="Additive Gaussian noise of standard deviation σ (in units of the range).",
)
def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    import torch

    from benchmark.data.corruptions._common import device_generator, same_for_grey

    g = device_generator(generator, x.device)
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return x.add_(same_for_grey(x, noise).mul_(sigma * 255))


@register_corruption(
    "shot_noise",
    family="noise",
    settings=(60, 25, 18, 10, 5),
    description="Poisson (photon) noise: Poisson(x·λ)/λ, fewer photons λ at higher severity.",
)
def shot_noise(x: torch.Tensor, photons: float, generator: torch.Generator) -> torch.Tensor:
    import torch

    from benchmark.data.corruptions._common import device_generator, same_for_grey

    g = device_generator(generator, x.device)
    counts = torch.poisson(x.float().clamp(0, 255) * (photons / 255), generator=g)
    return same_for_grey(x, counts.to(x.dtype)).mul_(255 / photons)


@register_corruption(
    "impulse_noise",
    family="noise",
    settings=(0.01, 0.03, 0.06, 0.09, 0.17),
    description="Salt-and-pepper noise: a fraction of the pixels set to 0 or 255, half each.",
)
def impulse_noise(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    import torch

    from benchmark.data.corruptions._common import device_generator, same_for_grey

    g = device_generator(generator, x.device)
    u = same_for_grey(x, torch.rand(x.shape, generator=g, device=x.device))
    x = x.masked_fill_(u < amount / 2, 255.0)  # salt, then pepper: half of ``amount`` each
    return x.masked_fill_((u >= amount / 2) & (u < amount), 0.0)


@register_corruption(
    "speckle_noise",
    family="noise",
    settings=(0.05, 0.15, 0.2, 0.35, 0.45),
    description="Multiplicative Gaussian noise: x + x·n, n of standard deviation σ.",
)
def speckle_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    import torch

    from benchmark.data.corruptions._common import device_generator, same_for_grey

    g = device_generator(generator, x.device)
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return x.addcmul_(x, same_for_grey(x, noise).mul_(sigma))
