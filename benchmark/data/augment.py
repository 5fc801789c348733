"""Training augmentation, drawn independently for every image of a training batch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

__all__ = ["create_augment"]

Augment = Callable[[torch.Tensor], torch.Tensor]


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
    """Build a batch augmentation (uint8 N × C × H × W → same), or ``None`` when all are off.

    ``rotate`` and ``shear`` are degrees, ``shift`` and ``zoom`` fractions of the image size,
    ``brightness`` and ``contrast`` the strength of a random factor around 1.
    """
    steps: list[torch.nn.Module] = []
    if rotate or shift or shear or zoom:
        steps.append(
            v2.RandomAffine(
                degrees=rotate,
                translate=(shift, shift) if shift else None,
                shear=shear or None,
                scale=(1 - zoom, 1 + zoom) if zoom else None,
            )
        )
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if vflip:
        steps.append(v2.RandomVerticalFlip())
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness or None, contrast=contrast or None))
    if not steps:
        return None
    per_image = v2.Compose(steps)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([per_image(image) for image in batch])

    return augment
