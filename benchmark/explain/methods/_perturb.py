"""What the perturbation methods share (LIME, occlusion, integrated gradients): what
hides a region or starts a path (``mean``: the dataset's mean colour, zeros after
normalisation; ``black``; ``blur``: a Gaussian blur with σ = 1/16 of the side), the
target class's *probability* as what is explained (as the LIME paper and package do), and
maps scaled into [0, 1].

The options' types are read without torch; the functions import it where they compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from benchmark.explain.methods._base import Attribution

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

Fill = Literal["mean", "black", "blur"]
FILL = "what hides a region: the mean colour, black, or the image blurred"

Attribute = Callable[["torch.Tensor", "torch.Tensor", list[int]], "torch.Tensor"]


def probabilities(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function captum explains: the model's class probabilities (in eval mode)."""
    model.eval()

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x).softmax(dim=1)

    return forward


def empty(inputs: torch.Tensor) -> Attribution | None:
    """The answer for no inputs (``None`` when there are some)."""
    if len(inputs):
        return None
    import numpy as np

    maps = np.zeros((0, *inputs.shape[2:]), np.float32)
    return Attribution(maps=maps, signed=maps)


def signed_maps(
    inputs: torch.Tensor,
    targets: list[int],
    *,
    fill: Fill,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    batch_size: int,
    attribute: Attribute,
) -> np.ndarray:
    """``attribute(x, baseline, targets)`` per batch, averaged over channels: N × H × W
    with each pixel's sign."""
    import numpy as np

    inputs = inputs.detach()
    signed = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size]
        att = attribute(
            x, baseline(x, fill, mean=mean, std=std), targets[start : start + batch_size]
        )
        signed.append(att.detach().float().mean(dim=1).cpu().numpy())
    return np.concatenate(signed)


def unit(maps: np.ndarray, percentile: float) -> np.ndarray:
    """Each map divided by its ``percentile`` (its maximum at 100), clipped to [0, 1]."""
    import numpy as np

    flat = maps.reshape(len(maps), -1)
    scale = np.percentile(flat, percentile, axis=1) if percentile < 100 else flat.max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    return np.clip(maps / scale, 0, 1).astype(np.float32)


def pixels(inputs: torch.Tensor, *, mean, std) -> np.ndarray:
    """Normalised inputs → float N × H × W × C in [0, 1], for the segmentation."""
    import torch

    x = inputs.float()
    if mean is not None:
        m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        x = x * s + m
    return x.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def baseline(inputs: torch.Tensor, kind: Fill, *, mean, std) -> torch.Tensor:
    """The inputs hidden by ``kind`` (see the module's docstring), normalised as they are."""
    import torch

    if kind == "mean":
        return torch.zeros_like(inputs)
    if kind == "black":
        if mean is None:
            return torch.zeros_like(inputs)
        m = torch.tensor(mean, device=inputs.device, dtype=inputs.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=inputs.device, dtype=inputs.dtype).view(1, -1, 1, 1)
        return (-m / s).expand_as(inputs).contiguous()
    if kind == "blur":
        import cv2
        import numpy as np

        sigma = max(1.0, inputs.shape[-1] / 16)
        images = inputs.float().permute(0, 2, 3, 1).cpu().numpy()
        blurred = np.stack([cv2.GaussianBlur(x, (0, 0), sigma) for x in images])
        if blurred.ndim == 3:  # cv2 drops a single channel
            blurred = blurred[..., None]
        return torch.from_numpy(blurred).permute(0, 3, 1, 2).to(inputs.device, inputs.dtype)
    raise ValueError(f"unknown baseline '{kind}': expected 'mean', 'black' or 'blur'")
