"""Where maps are computed: a model's CAM layer (chosen by input size) and its stages."""

from __future__ import annotations

from typing import Any

from torch import nn

from benchmark.errors import MedbenchError, suggest

__all__ = ["stage_layers", "target_layer"]


def _feature_info(model: nn.Module) -> list[dict[str, Any]]:
    """timm's ``feature_info``: per stage its ``module`` name and ``reduction``."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise MedbenchError(
            f"{type(model).__name__} has no timm feature_info: name its CAM layer with "
            "`explain: {layer: <module name>}`."
        )
    return list(info)


def _feature_modules(model: nn.Module) -> list[str]:
    return [entry["module"] for entry in _feature_info(model)]


MIN_CAM_SIDE = 7  # the last stage of ImageNet CNNs at 224 px


def target_layer(
    model: nn.Module, name: str | None = None, *, image_size: int | None = None
) -> tuple[str, nn.Module]:
    """The layer CAMs are computed at: ``name``, else the deepest stage timm reports whose
    map is still at least 7 × 7 at ``image_size`` (the last stage at 224 px; a finer one for
    small inputs, where the last stage would be 2 × 2 or 3 × 3; when none is, the deepest
    of the finest). A stage ending in pooling
    (VGG) gives its last activation; ViT-style models use the last block's first norm, since
    the head reads only the class token of the last block."""
    modules = dict(model.named_modules())
    if name is not None:
        if name not in modules:
            raise MedbenchError(
                f"`explain.layer: {name}` is not a module of {type(model).__name__}."
                + suggest(name, modules)
            )
        return name, modules[name]
    stages = _feature_modules(model)
    name = stages[-1]
    if image_size is not None:
        entries = _feature_info(model)
        fine = [e for e in entries if image_size // e["reduction"] >= MIN_CAM_SIDE]
        if not fine:  # nothing reaches 7 × 7: the finest there is, the deepest of those
            finest = min(e["reduction"] for e in entries)
            fine = [e for e in entries if e["reduction"] == finest]
        name = fine[-1]["module"]
    if hasattr(model, "patch_embed") and f"{name}.norm1" in modules:
        name = f"{name}.norm1"
    if isinstance(modules[name], nn.MaxPool2d | nn.AvgPool2d):
        order = list(modules)
        name = order[order.index(name) - 1]
    return name, modules[name]


def stage_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every stage timm reports, shallow to deep (the brain paper's per-stage maps)."""
    modules = dict(model.named_modules())
    return [(name, modules[name]) for name in _feature_modules(model)]
