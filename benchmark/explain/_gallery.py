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


def _figure(rows: int, cols: int, *, grid: tuple[int, int]):
    """A figure sized for ``rows`` × ``cols`` panels, holding a ``grid`` of axes without
    frames: each shows a strip of panels (:func:`_strip`) drawn as one image, since every
    axes costs matplotlib more than the pixels it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*grid, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


_GAP = 0.1  # between panels, as a fraction of a panel's side


def _strip(panels: list[np.ndarray | None], *, vertical: bool = False) -> tuple[np.ndarray, int]:
    """The panels (H × W × 3, float in [0, 1] or uint8; ``None``: an empty place) side by
    side on white, or one above the other, a small gap between them, as one uint8 image;
    and each panel's step (its side plus the gap) in the strip's pixels."""
    shown = [p for p in panels if p is not None]
    h = max((p.shape[0] for p in shown), default=1)
    w = max((p.shape[1] for p in shown), default=1)
    gap = max(1, round(_GAP * max(h, w)))
    step = (h if vertical else w) + gap
    size = (len(panels) * step - gap, w) if vertical else (h, len(panels) * step - gap)
    out = np.full((*size, 3), 255, np.uint8)
    for k, panel in enumerate(panels):
        if panel is None:
            continue
        if panel.dtype != np.uint8:
            panel = np.round(np.clip(panel, 0, 1) * 255).astype(np.uint8)
        if panel.ndim == 2:
            panel = np.repeat(panel[..., None], 3, axis=2)
        y, x = (k * step, 0) if vertical else (0, k * step)
        out[y : y + panel.shape[0], x : x + panel.shape[1]] = panel[..., :3]
    return out, step


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
    side (see :func:`cam_panels`, :func:`lime_panels`), its caption above its first panel;
    ``headers`` name the panels of the first row. A row is drawn as one image."""
    per_example = max((len(e["panels"]) for row in examples for e in row), default=3)
    cols = max(per_example * max((len(row) for row in examples), default=1), per_example)
    fig, axes = _figure(max(len(examples), 1), cols, grid=(max(len(examples), 1), 1))
    for r, row in enumerate(examples):
        places: list[np.ndarray | None] = [None] * cols
        for e, example in enumerate(row):
            places[per_example * e : per_example * e + len(example["panels"])] = example["panels"]
        strip, step = _strip(places)
        ax = axes[r, 0]
        ax.imshow(strip)
        for e, example in enumerate(row):
            left = per_example * e * step - 0.5
            ax.text(left, -1, example["caption"], fontsize=6, ha="left", va="bottom",
                    color=example.get("color", "k"))  # fmt: skip
            for p in range(1, len(example["panels"])):
                if r == 0 and p < len(headers) and headers[p]:
                    middle = left + p * step + (step - 1) / 2
                    ax.text(middle, -1, headers[p], fontsize=6, ha="center", va="bottom")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def stages_figure(
    images: list[np.ndarray], stage_maps: list[list[np.ndarray]], *, stages: list[str], title: str
):
    """Per image (a row): the original, then one overlay per stage, shallow to deep; each
    column (the originals, then each stage's overlays) is one axes, titled."""
    fig, axes = _figure(len(images), len(stages) + 1, grid=(1, len(stages) + 1))
    columns: list[list[np.ndarray | None]] = [[_rgb01(image) for image in images]]
    for c in range(len(stages)):
        columns.append(
            [overlay(image, maps[c]) for image, maps in zip(images, stage_maps, strict=True)]
        )
    for c, (column, name) in enumerate(zip(columns, ["", *stages], strict=True)):
        axes[0, c].imshow(_strip(column, vertical=True)[0])
        if name:
            axes[0, c].set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
