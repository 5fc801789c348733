"""Pictures: original, heatmap and overlay (jet, alpha 0.5) per image, in grids."""

from __future__ import annotations

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

__all__ = ["gallery_figure", "heatmap", "overlay", "stages_figure"]


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
    jet = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)
    return cv2.cvtColor(jet, cv2.COLOR_BGR2RGB)


def _figure(rows: int, cols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def gallery_figure(examples: list[list[dict]], *, title: str):
    """One row per class; each example is ``{image, cam, caption}`` shown as three panels."""
    cols = 3 * max((len(row) for row in examples), default=1)
    fig, axes = _figure(max(len(examples), 1), max(cols, 3))
    for r, row in enumerate(examples):
        for e, example in enumerate(row):
            panels = (
                _rgb01(example["image"]),
                heatmap(example["cam"]),
                overlay(example["image"], example["cam"]),
            )
            for p, panel in enumerate(panels):
                ax = axes[r, 3 * e + p]
                ax.imshow(panel)
                if p == 0:
                    ax.set_title(
                        example["caption"], fontsize=6, loc="left", color=example.get("color", "k")
                    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def stages_figure(
    images: list[np.ndarray], stage_maps: list[list[np.ndarray]], stages: list[str], *, title: str
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
