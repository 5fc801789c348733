"""Class-activation maps through pytorch_grad_cam (its only importer, where a map is
computed): eight methods that weigh a layer's activations, sharing one behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.explain.methods._base import Attribution, Method, register_method

if TYPE_CHECKING:
    import numpy as np
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

        from benchmark.explain._layers import target_layer

        _, module = target_layer(model, layer, image_size=inputs.shape[-1])
        with self._cam(model, [module]) as cam:
            maps = _batched(cam, inputs, targets, batch_size, cam_class=self.cam_class)
        empty = np.zeros((0, *inputs.shape[2:]), np.float32)
        return Attribution(maps=np.concatenate(maps) if maps else empty)

    def layer_maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        layers: list[str],
        batch_size: int = 32,
    ) -> np.ndarray | None:
        """The maps :meth:`maps` gives at each of ``layers`` (L × N × H × W), from one
        forward and backward pass per batch instead of one per layer; ``None`` where the
        layers' activations and gradients do not pair up one to one (a layer run twice in a
        forward pass), and the maps are then computed layer by layer."""
        import numpy as np

        from benchmark.explain._layers import target_layer

        modules = [target_layer(model, name)[1] for name in layers]
        try:
            with self._cam(model, modules, per_layer=True) as cam:
                maps = _batched(cam, inputs, targets, batch_size, cam_class=self.cam_class)
        except _Unpaired:
            return None
        if not maps:
            return np.zeros((len(layers), 0, *inputs.shape[2:]), np.float32)
        return np.concatenate(maps, axis=1)

    @contextmanager
    def _cam(
        self, model: nn.Module, layers: list[nn.Module], *, per_layer: bool = False
    ) -> Iterator[Any]:
        """A pytorch_grad_cam object whose hooks are released however the block ends (its
        own ``__exit__`` prints and swallows IndexError, so it is not used); ``per_layer``:
        one that keeps each layer's map (:class:`_PerLayer`)."""
        import contextlib
        import io

        import pytorch_grad_cam

        kind = getattr(pytorch_grad_cam, self.cam_class)
        if per_layer:
            kind = type(f"{kind.__name__}PerLayer", (_PerLayer, kind), {})
        cam = kind(model=model, target_layers=layers, reshape_transform=_reshape_transform(model))
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # ScoreCAM/AblationCAM print bars
                yield cam
        finally:
            cam.activations_and_grads.release()


def _batched(cam: Any, inputs: torch.Tensor, targets: list[int], batch_size: int, *,
             cam_class: str) -> list[np.ndarray]:  # fmt: skip
    """``cam``'s maps of ``inputs`` for the ``targets`` classes, one array per batch."""
    import numpy as np
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = cam.model
    model.eval()
    maps = []
    with torch.enable_grad():
        if cam_class == "AblationCAM":
            cam.batch_size = batch_size
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].detach().clone().requires_grad_(True)
            chosen = [ClassifierOutputTarget(t) for t in targets[start : start + batch_size]]
            maps.append(np.asarray(cam(input_tensor=x, targets=chosen), dtype=np.float32))
    return maps


class _Unpaired(Exception):
    """The target layers' activations and gradients do not pair up one to one."""


class _PerLayer:
    """Mixed into a pytorch_grad_cam method: each target layer's map (L × N × H × W,
    each in [0, 1]) instead of their mean, computed as the method computes one layer's."""

    activations_and_grads: Any  # the method's, as pytorch_grad_cam's BaseCAM sets them
    target_layers: list[Any]
    uses_gradients: bool

    def compute_cam_per_layer(self, input_tensor: Any, targets: Any, eigen_smooth: bool) -> Any:
        found = self.activations_and_grads
        shapes = [a.shape for a in found.activations]
        if len(shapes) != len(self.target_layers) or (
            self.uses_gradients and shapes != [g.shape for g in found.gradients]
        ):
            raise _Unpaired
        return super().compute_cam_per_layer(  # type: ignore[misc]
            input_tensor, targets, eigen_smooth
        )

    def aggregate_multi_layers(self, cam_per_target_layer: list[np.ndarray]) -> np.ndarray:
        """What one layer's aggregation gives (its map, clipped at 0, scaled to [0, 1]),
        per layer."""
        import numpy as np
        from pytorch_grad_cam.utils.image import scale_cam_image

        return np.stack([scale_cam_image(np.maximum(c[:, 0], 0)) for c in cam_per_target_layer])


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
