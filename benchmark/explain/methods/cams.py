"""Class-activation maps through pytorch_grad_cam (its only importer, where a map is
computed): eight methods that weigh a layer's activations, sharing one behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.explain.methods._base import Attribution, Method, register_method

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["CamMethod"]


@dataclass(frozen=True)
class CamMethod(Method):
    """A pytorch_grad_cam method, by the name of its class there (``cam_class``)."""

    cam_class: str = "GradCAM"

    def maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        options: Any,
        layer: str | None,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        batch_size: int,
        seed: int,
    ) -> Attribution:
        """Maps at ``layer`` (N × H × W, each in [0, 1], at the input's size). Works for
        frozen backbones too: the input requires grad, so every activation does."""
        import numpy as np
        import torch
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        from benchmark.explain._layers import target_layer

        _, module = target_layer(model, layer, image_size=inputs.shape[-1])
        model.eval()
        maps = []
        with self._cam(model, [module]) as cam, torch.enable_grad():
            if self.cam_class == "AblationCAM":
                cam.batch_size = batch_size
            for start in range(0, len(inputs), batch_size):
                x = inputs[start : start + batch_size].detach().clone().requires_grad_(True)
                chosen = [ClassifierOutputTarget(t) for t in targets[start : start + batch_size]]
                maps.append(np.asarray(cam(input_tensor=x, targets=chosen), dtype=np.float32))
        empty = np.zeros((0, *inputs.shape[2:]), np.float32)
        return Attribution(maps=np.concatenate(maps) if maps else empty)

    @contextmanager
    def _cam(self, model: nn.Module, layers: list[nn.Module]) -> Iterator[Any]:
        """A pytorch_grad_cam object whose hooks are released however the block ends (its
        own ``__exit__`` prints and swallows IndexError, so it is not used)."""
        import contextlib
        import io

        import pytorch_grad_cam

        cam = getattr(pytorch_grad_cam, self.cam_class)(
            model=model, target_layers=layers, reshape_transform=_reshape_transform(model)
        )
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # ScoreCAM/AblationCAM print bars
                yield cam
        finally:
            cam.activations_and_grads.release()


def _reshape_transform(model: nn.Module) -> Callable | None:
    """ViT-style blocks output tokens: drop the prefix tokens, lay the rest on their grid."""
    if not hasattr(model, "patch_embed"):
        return None
    import math

    prefix = getattr(model, "num_prefix_tokens", 1)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3:
            return tokens
        patches = tokens[:, prefix:, :]
        side = math.isqrt(patches.shape[1])
        return patches.reshape(patches.shape[0], side, side, patches.shape[2]).permute(0, 3, 1, 2)

    return reshape


for _name, _class, _slow, _about, _gradients in [
    ("gradcam", "GradCAM", False, "gradients of the class score, averaged per channel", True),
    ("gradcam++", "GradCAMPlusPlus", False, "Grad-CAM with second-order channel weights", True),
    ("xgradcam", "XGradCAM", False, "Grad-CAM with activation-scaled gradients", True),
    ("hirescam", "HiResCAM", False, "gradients times activations, element-wise", True),
    ("layercam", "LayerCAM", False, "positive gradients times activations, per location", True),
    ("eigencam", "EigenCAM", False, "first principal component of the activations", False),
    ("scorecam", "ScoreCAM", True, "one forward pass per channel", False),
    ("ablationcam", "AblationCAM", True, "one forward pass per channel", False),
]:
    register_method(CamMethod(_name, "cam", _slow, _about, gradients=_gradients, cam_class=_class))
