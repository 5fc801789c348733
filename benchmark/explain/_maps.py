"""One entry point for every method: the registered method computes its maps, with its
options from the suite's ``explain`` section (its defaults without one)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.errors import MedbenchError
from benchmark.explain.methods import Attribution, get_method, list_methods
from benchmark.suite import ExplainConfig

__all__ = ["cam_maps", "explain_maps", "stage_maps", "usable_methods"]


def _has_gradients(model: nn.Module) -> bool:
    """Whether the model's scores carry a gradient to the image (a kNN head's votes do not)."""
    from benchmark.models import classifier_modules

    return all(getattr(head, "gradients", True) for head in classifier_modules(model))


def usable_methods(model: nn.Module, methods: list[str] | None = None) -> list[str]:
    """``methods`` (default: every registered one), less those that need the gradients
    ``model``'s scores do not have; in their order."""
    names = methods if methods is not None else [m.name for m in list_methods()]
    if _has_gradients(model):
        return list(names)
    return [name for name in names if not get_method(name).gradients]


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
    if chosen.gradients and not _has_gradients(model):
        raise MedbenchError(
            f"explanation method '{method}' needs the gradients of the class score, which "
            f"this model's head does not give (kNN votes are counts): use one of "
            f"{usable_methods(model)}."
        )
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


def stage_maps(
    model: nn.Module, inputs: torch.Tensor, *, targets: list[int], layers: list[str]
) -> np.ndarray:
    """Grad-CAM maps at each of ``layers`` (L × N × H × W): what :func:`cam_maps` gives
    layer by layer, from one forward and backward pass where the layers allow it."""
    from benchmark.explain.methods.cams import CamMethod

    method = get_method("gradcam")
    if isinstance(method, CamMethod) and _has_gradients(model):
        found = method.layer_maps(model, inputs, targets=targets, layers=layers)
        if found is not None:
            return found
    return np.stack([cam_maps(model, inputs, targets=targets, layer=name) for name in layers])
