"""Pictures: original, heatmap and overlay (jet, alpha 0.5) per image, in grids; for LIME,
as its paper shows them, the superpixels for the class alone and the map of those for
(green) and against (red) it."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image
from skimage.segmentation import mark_boundaries

__all__ = ["cam_panels", "gallery_figure", "heatmap", "lime_panels", "overlay", "stages_figure"]


def _rgb01(image: np.ndarray) -> np.ndarray:
    """uint8 C × H × W (C = 1 or 3) → float H × W × 3 in [0, 1]."""
    image = np.asarray(image).transpose(1, 2, 0)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image.astype(np.float32) / 255.0


def overlay(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The map in jet over the image, half and half (uint8 H × W × 3, RGB)."""
    return show_cam_on_image(
        _rgb01(image), cam, use_rgb=True, colormap=cv2.COLORMAP_JET, image_weight=0.5
    )


def heatmap(cam: np.ndarray) -> np.ndarray:
    jet = cv2.applyColorMap((255 * np.clip(cam, 0, 1)).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(jet, cv2.COLOR_BGR2RGB)


def _figure(rows: int, cols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def cam_panels(image: np.ndarray, cam: np.ndarray) -> list[np.ndarray]:
    """The original, the heatmap and the overlay."""
    return [_rgb01(image), heatmap(cam), overlay(image, cam)]


def lime_panels(
    image: np.ndarray, segments: np.ndarray, *, weights: np.ndarray, top: int
) -> list[np.ndarray]:
    """The original; the ``top`` superpixels with the highest positive weights alone on
    black; the ``top`` superpixels of highest absolute weight tinted green (for the class)
    or red (against it), the rest as it is. The edges of those shown are marked."""
    rgb = _rgb01(image)
    positive = [int(f) for f in np.argsort(-weights)[:top] if weights[f] > 0]
    alone = np.where(np.isin(segments, positive)[..., None], rgb, 0.0)
    strongest = [int(f) for f in np.argsort(-np.abs(weights))[:top]]
    signed = rgb.copy()
    for f in strongest:
        color = (0.0, 1.0, 0.0) if weights[f] > 0 else (1.0, 0.0, 0.0)
        inside = segments == f
        signed[inside] = 0.5 * signed[inside] + 0.5 * np.array(color, np.float32)
    alone = mark_boundaries(alone, _only(segments, positive))
    return [rgb, alone, mark_boundaries(signed, _only(segments, strongest))]


def _only(segments: np.ndarray, kept: list[int]) -> np.ndarray:
    """The labels of the ``kept`` superpixels, everything else one background label."""
    return np.where(np.isin(segments, kept), segments + 1, 0)


def gallery_figure(examples: list[list[dict]], *, title: str, headers: tuple[str, ...] = ()) -> Any:
    """One row per class; each example is ``{panels, caption, color}``, its panels side by
    side (see :func:`cam_panels`, :func:`lime_panels`); ``headers`` name the panels."""
    per_example = max((len(e["panels"]) for row in examples for e in row), default=3)
    cols = per_example * max((len(row) for row in examples), default=1)
    fig, axes = _figure(max(len(examples), 1), max(cols, per_example))
    for r, row in enumerate(examples):
        for e, example in enumerate(row):
            for p, panel in enumerate(example["panels"]):
                ax = axes[r, per_example * e + p]
                ax.imshow(panel)
                if p == 0:
                    ax.set_title(
                        example["caption"], fontsize=6, loc="left", color=example.get("color", "k")
                    )
                elif r == 0 and p < len(headers):
                    ax.set_title(headers[p], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def stages_figure(
    images: list[np.ndarray], stage_maps: list[list[np.ndarray]], *, stages: list[str], title: str
):
    """Per image: the original, then one overlay per stage, shallow to deep."""
    fig, axes = _figure(len(images), len(stages) + 1)
    for r, (image, maps) in enumerate(zip(images, stage_maps, strict=True)):
        axes[r, 0].imshow(_rgb01(image))
        for c, (cam, name) in enumerate(zip(maps, stages, strict=True), start=1):
            axes[r, c].imshow(overlay(image, cam))
            if r == 0:
                axes[r, c].set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
