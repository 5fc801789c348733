"""One entry point for every method: a CAM through pytorch_grad_cam or a perturbation
method through captum, chosen by the method's kind in the table of ``_methods``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.explain._cam import grad_cam_maps
from benchmark.explain._methods import method_info
from benchmark.explain._perturb import Attribution, perturbation_maps
from benchmark.suite import ExplainConfig

__all__ = ["Attribution", "cam_maps", "explain_maps"]


def explain_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: list[int],
    *,
    method: str = "gradcam",
    layer: str | None = None,
    settings: ExplainConfig | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> Attribution:
    """``method``'s maps of the ``targets`` classes for normalised ``inputs``.

    ``layer`` is the CAM layer (CAMs only); ``settings`` an ``ExplainConfig`` whose
    ``lime``, ``occlusion`` and ``integrated_gradients`` settings the perturbation methods
    read (``None``: the defaults); ``mean``/``std`` the normalisation of ``inputs``, which
    LIME's superpixels and the black baseline undo; ``seed`` draws LIME's samples.
    """
    if method_info(method).kind == "cam":
        maps = grad_cam_maps(
            model, inputs, targets, method=method, layer=layer, batch_size=batch_size
        )
        return Attribution(maps=maps)
    return perturbation_maps(
        model,
        inputs,
        targets,
        method=method,
        settings=settings or ExplainConfig(),
        mean=mean,
        std=std,
        batch_size=batch_size,
        seed=seed,
    )


def cam_maps(model: nn.Module, inputs: torch.Tensor, targets: list[int], **options) -> np.ndarray:
    """Maps (N × H × W, each in [0, 1], at the input's size) for the given target classes,
    of any method (``options`` as for :func:`explain_maps`). Works for frozen backbones."""
    return explain_maps(model, inputs, targets, **options).maps
