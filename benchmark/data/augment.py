"""Training augmentation: one batched operation on the batch's device, with random settings
drawn independently for every image.

Rotation, shift, shear, zoom and flips are one affine map per image, applied to the whole
batch by a single ``grid_sample`` (nearest pixel and zeros outside, as torchvision's
``RandomAffine``); brightness and contrast are one multiply-add per image. The settings are
drawn on the CPU from a seeded generator, so the same seed gives the same augmented batches
on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional

__all__ = ["Augment", "create_augment"]


@dataclass(frozen=True)
class Augment:
    """``augment(batch, generator)``: uint8 or float N × C × H × W (values 0–255) → the same
    shape and dtype, every image transformed with its own random settings.

    ``rotate`` and ``shear`` are degrees, ``shift`` and ``zoom`` fractions of the image size,
    ``brightness`` and ``contrast`` the strength of a random factor around 1.
    """

    rotate: float = 0.0
    shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    hflip: bool = False
    vflip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0

    @property
    def geometric(self) -> bool:
        return bool(self.rotate or self.shift or self.shear or self.zoom)

    def __call__(
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        n = batch.shape[0]
        x = batch.float()
        if self.geometric or self.hflip or self.vflip:
            x = self._move(x, _to(self.draw_affine(n, generator), x.device))
        if self.brightness or self.contrast:
            mine = x if x is not batch else x.clone()  # changed in place, never the caller's
            x = self._light(mine, *self.draw_light(n, generator, device=x.device))
        if batch.dtype == torch.uint8:
            return x.round_().clamp_(0, 255).to(torch.uint8)
        return x

    def draw_affine(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """N × 2 × 3 matrices mapping output to input coordinates (``affine_grid``'s, in
        [-1, 1]): a rotation in ±rotate°, a shear in ±shear° along x, a scale in 1 ± zoom, a
        shift in ±shift of the size, and a flip of each axis asked for, with probability ½."""

        def uniform(bound: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * 2 - 1) * bound

        angle = uniform(math.radians(self.rotate))
        shear = uniform(math.radians(self.shear))
        scale = 1 + uniform(self.zoom)
        # Output → input: the inverse of "scale, shear, rotate" is applied to output points.
        cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
        forward = torch.stack(
            [torch.stack([cos, -sin + cos * tan], -1), torch.stack([sin, cos + sin * tan], -1)], -2
        ) * scale.view(n, 1, 1)
        matrix = torch.linalg.inv(forward)
        shift = torch.stack([uniform(self.shift), uniform(self.shift)], -1) * 2  # [-1, 1] units
        offset = -(matrix @ shift.view(n, 2, 1))
        flips = torch.ones(n, 2)
        if self.hflip:
            flips[:, 0] = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        if self.vflip:
            flips[:, 1] = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        matrix = matrix * flips.view(n, 1, 2)  # flip the output's axes
        return torch.cat([matrix, offset], dim=2)

    def draw_light(
        self, n: int, generator: torch.Generator | None = None, *, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image brightness and contrast factors (N × 1 × 1 × 1 each)."""
        brightness = 1 + (torch.rand(n, generator=generator) * 2 - 1) * self.brightness
        contrast = 1 + (torch.rand(n, generator=generator) * 2 - 1) * self.contrast
        shape = (n, 1, 1, 1)
        return (_to(brightness.clamp_(min=0).view(shape), device),
                _to(contrast.clamp_(min=0).view(shape), device))  # fmt: skip

    def _move(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        if not self.geometric:  # flips only: exact, no resampling
            flip_x = (theta[:, 0, 0] < 0).view(-1, 1, 1, 1)
            flip_y = (theta[:, 1, 1] < 0).view(-1, 1, 1, 1)
            x = torch.where(flip_x, x.flip(-1), x)
            return torch.where(flip_y, x.flip(-2), x)
        return functional.grid_sample(
            x, _grid(theta, x.shape), mode="nearest", padding_mode="zeros", align_corners=False
        )

    def _light(self, x: torch.Tensor, brightness, contrast) -> torch.Tensor:
        """``(x·b − m)·c + m`` in place, with ``m`` the image's mean gray level after
        brightness: one multiply-add per image (torchvision clips between the two steps; this
        clips once)."""
        means = x.mean(dim=(2, 3))  # N × C
        if x.shape[1] == 3:
            means = means @ _luma(x.device)
        mean = means.view(-1, 1, 1, 1) * brightness
        return x.mul_(brightness * contrast).add_(mean * (1 - contrast)).clamp_(0, 255)


def _to(values: torch.Tensor, device: torch.device | None) -> torch.Tensor:
    """Settings drawn on the CPU, on ``device`` without stopping it: a GPU gets them from
    pinned memory, asynchronously (a copy from pageable memory waits for the device)."""
    if device is None or torch.device(device).type != "cuda":
        return values.to(device) if device is not None else values
    return values.pin_memory().to(device, non_blocking=True)


_LUMA: dict[torch.device, torch.Tensor] = {}


def _luma(device: torch.device) -> torch.Tensor:
    """ITU-R 601 weights of R, G and B, put on each device once."""
    if device not in _LUMA:
        _LUMA[device] = torch.tensor([0.299, 0.587, 0.114]).to(device)
    return _LUMA[device]


def _grid(theta: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``affine_grid(theta, shape, align_corners=False)`` as one broadcast sum of an x and a
    y term (the library's batched matrix product is slower for 3-vectors)."""
    n, _, h, w = shape
    xs = (torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1
    columns = theta.transpose(1, 2)  # N × 3 × 2: the x, y and constant terms of (x', y')
    x_term = xs.view(1, 1, w, 1) * columns[:, 0].view(n, 1, 1, 2)
    y_term = ys.view(1, h, 1, 1) * columns[:, 1].view(n, 1, 1, 2) + columns[:, 2].view(n, 1, 1, 2)
    return x_term + y_term


def create_augment(
    *,
    rotate: float = 0.0,
    shift: float = 0.0,
    shear: float = 0.0,
    zoom: float = 0.0,
    hflip: bool = False,
    vflip: bool = False,
    brightness: float = 0.0,
    contrast: float = 0.0,
) -> Augment | None:
    """The batch augmentation of these settings, or ``None`` when all are off."""
    augment = Augment(rotate, shift, shear, zoom, hflip, vflip, brightness, contrast)
    if not (augment.geometric or hflip or vflip or brightness or contrast):
        return None
    return augment
