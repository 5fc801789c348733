"""Decode and preprocess every image once into uint8 arrays held in memory."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from benchmark.data.layouts import Source
from benchmark.data.preprocess import Op, apply_ops, resize

__all__ = ["ImageSet", "load_images", "prepare_image", "to_uint8_hwc"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images of one dataset at one size, aligned with its source records."""

    images: torch.Tensor  # uint8, N × C × H × W (C is 1 for grayscale data, else 3)
    labels: torch.Tensor  # int64, N
    masks: torch.Tensor | None  # bool, N × H × W, where the layout provides lesion masks
    classes: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def to_uint8_hwc(image: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA; 8 or 16 bit) → uint8 H × W × C in RGB order."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = ((image - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8)
    if image.ndim == 2:
        return image[..., None]
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image[..., :1]


def prepare_image(image: np.ndarray, *, ops: Sequence[Op], size: int) -> np.ndarray:
    """A decoded image → ``ops`` → uint8 H × W × C at ``size`` × ``size`` (as in training)."""
    image = resize(to_uint8_hwc(apply_ops(image, ops)), size=size)
    return image[..., None] if image.ndim == 2 else image


def load_images(
    source: Source,
    *,
    ops: Sequence[Op],
    size: int,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImageSet:
    """Read every image of ``source``, apply ``ops`` then resize to ``size`` × ``size``.

    Files are decoded by ``workers`` threads (default: one per core; OpenCV releases the GIL).
    """
    n = len(source)

    def prepare(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        image, mask = source.read(i)
        image = prepare_image(image, ops=ops, size=size)
        if mask is not None:
            mask = cv2.resize(mask.astype(np.uint8), (size, size), cv2.INTER_NEAREST) > 0
        return image, mask

    images: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for done, (image, mask) in enumerate(pool.map(prepare, range(n)), start=1):
            images.append(image)
            masks.append(mask)
            if progress is not None:
                progress(done, n)

    channels = max(image.shape[2] for image in images)
    if channels == 3:  # a dataset mixing gray and colour files becomes colour throughout
        images = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in images]
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    mask_tensor = None
    if any(m is not None for m in masks):
        empty = np.zeros((size, size), dtype=bool)
        mask_tensor = torch.from_numpy(np.stack([empty if m is None else m for m in masks]))
    index = {name: k for k, name in enumerate(source.classes)}
    labels = torch.tensor([index[label] for label in source.records["label"]], dtype=torch.long)
    return ImageSet(
        images=stacked,
        labels=labels,
        masks=mask_tensor,
        classes=list(source.classes),
        ids=list(source.records["id"]),
    )
