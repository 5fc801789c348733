"""Class-activation maps through pytorch_grad_cam: the ``cam`` methods, target layers, stages."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from pytorch_grad_cam import (
    AblationCAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from benchmark.errors import MedbenchError, suggest

__all__ = ["grad_cam_maps", "stage_layers", "target_layer"]

# pytorch_grad_cam's class for each ``cam`` method of the table in ``_methods``
_CLASSES: dict[str, type] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
    "ablationcam": AblationCAM,
}


def _feature_modules(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if not info:
        raise MedbenchError(
            f"{type(model).__name__} has no timm feature_info: name its CAM layer with "
            "`explain: {layer: <module name>}`."
        )
    return [entry["module"] for entry in info]


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
        entries = model.feature_info
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


def _reshape_transform(model: nn.Module) -> Callable | None:
    """ViT-style blocks output tokens: drop the prefix tokens, lay the rest on their grid."""
    if not hasattr(model, "patch_embed"):
        return None
    prefix = getattr(model, "num_prefix_tokens", 1)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3:
            return tokens
        patches = tokens[:, prefix:, :]
        side = math.isqrt(patches.shape[1])
        return patches.reshape(patches.shape[0], side, side, patches.shape[2]).permute(0, 3, 1, 2)

    return reshape


@contextmanager
def _cam(model: nn.Module, method: str, layers: list[nn.Module]) -> Iterator:
    """A pytorch_grad_cam object whose hooks are released however the block ends (its own
    ``__exit__`` prints and swallows IndexError, so it is not used)."""
    cam = _CLASSES[method](
        model=model, target_layers=layers, reshape_transform=_reshape_transform(model)
    )
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # ScoreCAM/AblationCAM print tqdm bars
            yield cam
    finally:
        cam.activations_and_grads.release()


def grad_cam_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: list[int],
    *,
    method: str = "gradcam",
    layer: str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Maps (N × H × W, each in [0, 1], at the input's size) for the given target classes.

    Works for frozen backbones too: the input requires grad, so every activation does.
    """
    _, module = target_layer(model, layer, image_size=inputs.shape[-1])
    model.eval()
    maps = []
    with _cam(model, method, [module]) as cam, torch.enable_grad():
        if method == "ablationcam":
            cam.batch_size = batch_size
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].detach().clone().requires_grad_(True)
            batch_targets = [ClassifierOutputTarget(t) for t in targets[start : start + batch_size]]
            maps.append(np.asarray(cam(input_tensor=x, targets=batch_targets), dtype=np.float32))
    return np.concatenate(maps) if maps else np.zeros((0, *inputs.shape[2:]), np.float32)
