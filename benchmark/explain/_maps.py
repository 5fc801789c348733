"""One entry point for every method: the registered method computes its maps, with its
options from the suite's ``explain`` section (its defaults without one)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.explain.methods import Attribution, get_method
from benchmark.suite import ExplainConfig

__all__ = ["cam_maps", "explain_maps"]


def explain_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    targets: list[int],
    method: str = "gradcam",
    layer: str | None = None,
    settings: ExplainConfig | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> Attribution:
    """``method``'s maps of the ``targets`` classes for normalised ``inputs``.

    ``layer`` is the CAM layer (CAMs only); ``settings`` an ``ExplainConfig`` whose section
    for ``method`` (``lime: {...}``) holds its options (``None``: the defaults);
    ``mean``/``std`` the normalisation of ``inputs``, which LIME's superpixels and the
    black baseline undo; ``seed`` draws LIME's samples.
    """
    chosen = get_method(method)
    options = chosen.settings(settings.method_options(method) if settings else None)
    return chosen.maps(
        model, inputs, targets=targets, options=options, layer=layer, mean=mean, std=std,
        batch_size=batch_size, seed=seed,
    )  # fmt: skip


def cam_maps(
    model: nn.Module, inputs: torch.Tensor, *, targets: list[int], **options
) -> np.ndarray:
    """Maps (N × H × W, each in [0, 1], at the input's size) for the given target classes,
    of any method (``options`` as for :func:`explain_maps`). Works for frozen backbones."""
    return explain_maps(model, inputs, targets=targets, **options).maps
