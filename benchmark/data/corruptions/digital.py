"""Digital artefacts: MedMNIST-C's settings for ChestMNIST. Pixelation is two batched resizes
on the batch's device; JPEG compression is Pillow's encoder (as MedMNIST-C's), one image at a
time on the CPU, since no batched JPEG codec ships with the libraries medbench uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.data.corruptions._base import register_corruption

if TYPE_CHECKING:
    import torch


@register_corruption(
    "pixelate",
    family="digital",
    settings=(0.30, 0.25, 0.20, 0.15, 0.10),
    description="Pixelation: shrunk to a fraction f of its size by box averaging, then enlarged "
    "back by nearest pixel.",
)
def pixelate(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Pillow's ``BOX`` resize down and up (area averaging here, then the nearest pixel)."""
    from torch.nn import functional

    h, w = x.shape[-2:]
    small = functional.interpolate(
        x, size=(max(1, int(h * fraction)), max(1, int(w * fraction))), mode="area"
    )
    return functional.interpolate(small, size=(h, w), mode="nearest-exact")


@register_corruption(
    "jpeg_compression",
    family="digital",
    settings=(50, 30, 15, 10, 7),
    description="JPEG compression at quality q (Pillow's encoder, 4:2:0 chroma).",
)
def jpeg_compression(x: torch.Tensor, quality: int, generator: torch.Generator) -> torch.Tensor:
    """Each image encoded and decoded by Pillow on the CPU (a loop over images: no batched
    codec here), a grey one (one channel, or three equal ones) as a one-channel JPEG."""
    import io

    import numpy as np
    import torch
    from PIL import Image

    pixels = x.round().clamp_(0, 255).to(torch.uint8).cpu()
    grey = pixels.shape[1] == 1 or bool((pixels[:, 1:] == pixels[:, :1]).all())
    planes = pixels[:, :1] if grey else pixels
    out = []
    for image in planes.permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if grey else image).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer).convert("L" if grey else "RGB"))
        out.append(decoded.reshape((*image.shape[:2], -1)))
    back = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)
    return back.expand(-1, x.shape[1], -1, -1).to(x.device, x.dtype)
