"""Brightness, contrast and gamma, one multiply-add or power per pixel: MedMNIST-C's settings
for ChestMNIST, as Pillow's ``ImageEnhance`` and torchvision's ``adjust_gamma`` apply them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.data.corruptions._base import register_corruption

if TYPE_CHECKING:
    import torch


def _brightness(x: torch.Tensor, factor: float, generator: torch.Generator) -> torch.Tensor:
    """Pillow's ``Brightness``: a blend with black, ``x·factor``."""
    return x.mul_(factor)


def _contrast(x: torch.Tensor, factor: float, generator: torch.Generator) -> torch.Tensor:
    """Pillow's ``Contrast``: a blend with the image's mean grey level ``m`` (of its luma,
    ITU-R 601, rounded), ``m + factor·(x − m)``."""
    means = x.mean(dim=(2, 3))
    if x.shape[1] == 3:
        means = means[:, 0] * 0.299 + means[:, 1] * 0.587 + means[:, 2] * 0.114
    else:
        means = means[:, 0]
    mean = means.add_(0.5).floor_().view(-1, 1, 1, 1)
    return x.sub_(mean).mul_(factor).add_(mean)


def _gamma(x: torch.Tensor, gamma: float, generator: torch.Generator) -> torch.Tensor:
    """torchvision's ``adjust_gamma`` (gain 1): ``255·(x/255)^γ``."""
    return x.clamp_(0, 255).div_(255).pow_(gamma).mul_(255)


_LEVEL = "m + f·(x − m), m the image's mean grey level"
_KINDS = {
    "brightness_up": (_brightness, (1.1, 1.2, 1.3, 1.4, 1.5), "Brighter: x·f."),
    "brightness_down": (_brightness, (0.9, 0.8, 0.7, 0.6, 0.5), "Darker: x·f."),
    "contrast_up": (_contrast, (1.1, 1.2, 1.3, 1.4, 1.6), f"More contrast: {_LEVEL}."),
    "contrast_down": (_contrast, (0.9, 0.8, 0.7, 0.6, 0.4), f"Less contrast: {_LEVEL}."),
    "gamma_corr_up": (_gamma, (1.1, 1.2, 1.3, 1.4, 1.6), "Gamma γ > 1: darker mid-tones."),
    "gamma_corr_down": (_gamma, (0.9, 0.8, 0.7, 0.6, 0.4), "Gamma γ < 1: brighter mid-tones."),
}
for _name, (_apply, _settings, _about) in _KINDS.items():
    register_corruption(_name, family="intensity", settings=_settings, description=_about)(_apply)
