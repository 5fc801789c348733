"""Decode and preprocess every image once into uint8 arrays held in memory (and on disk,
through the content-addressed cache, for the next cell, run or suite)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from benchmark.data.cache import ImageCache
from benchmark.data.files import BadImage
from benchmark.data.layouts import Source
from benchmark.data.preprocess import Op, apply_ops, resize
from benchmark.errors import DataError

__all__ = ["ImageSet", "load_images", "prepare_image"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images of one dataset at one size, aligned with its source records."""

    images: torch.Tensor  # uint8, N × C × H × W (C is 1 for grayscale data, else 3)
    labels: torch.Tensor  # int64, N; multi-label: float32, N × L (NaN: missing)
    masks: torch.Tensor | None  # bool, N × H × W, where the layout provides lesion masks
    classes: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def prepare_image(image: np.ndarray, *, ops: Sequence[Op], size: int) -> np.ndarray:
    """A decoded image (uint8 gray or RGB) → ``ops`` → uint8 H × W × C at ``size`` × ``size``,
    as in training."""
    image = resize(apply_ops(image, ops), size=size)
    return image[..., None] if image.ndim == 2 else image


def load_images(
    source: Source,
    *,
    ops: Sequence[Op],
    size: int,
    progress: Progress | None = None,
    workers: int | None = None,
    cache: ImageCache | None = None,
    keys: Sequence[str] | None = None,
) -> ImageSet:
    """Read every image of ``source``, apply ``ops`` then resize to ``size`` × ``size``.

    With a ``cache``, each result is looked up by its content key (``keys``, the sha256 of
    each file, when the caller has them already) before anything is decoded. Files are
    decoded by ``workers`` threads (default: one per core; decoders release the GIL).
    A file that cannot be decoded is an error here: the runner audits and drops them first.
    """
    n = len(source)
    recipe = ImageCache.key(ops, size, dicom=source.dicom, gray=source.gray)

    def prepare(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        sha, data = (keys[i], None) if keys is not None else source.content(i)
        if cache is not None and (hit := cache.get(recipe, sha)) is not None:
            return hit
        try:
            image, mask = source.read(i, data)
        except (BadImage, OSError) as exc:
            path = source.records["path"].iat[i] or source.records["id"].iat[i]
            raise DataError(
                f"{path}: {exc}. `medbench data audit` lists every unreadable file "
                "(`medbench run` leaves them out by itself)."
            ) from None
        image = prepare_image(image, ops=ops, size=size)
        if mask is not None:
            square = (size, size)
            mask = cv2.resize(mask.astype(np.uint8), square, interpolation=cv2.INTER_NEAREST) > 0
        if cache is not None:
            cache.put(recipe, sha, image=image, mask=mask)
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
    if source.targets is not None:
        labels = torch.from_numpy(np.array(source.targets, dtype=np.float32))
    else:
        index = {name: k for k, name in enumerate(source.classes)}
        labels = torch.tensor([index[label] for label in source.records["label"]], dtype=torch.long)
    return ImageSet(
        images=stacked,
        labels=labels,
        masks=mask_tensor,
        classes=list(source.classes),
        ids=list(source.records["id"]),
    )
