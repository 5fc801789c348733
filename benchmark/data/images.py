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


# A set of preprocessed images larger than this lies memory-mapped in the cache (one
# ``.npy`` per recipe and image list) instead of in memory.
MAP_OVER = 256 * 2**20
_CHUNK = 512  # images prepared by the threads between two fills of the array


class _Colour(Exception):
    """A colour image in a set begun as grey: the set is made again in colour."""


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

    The images are written into one N × C × H × W array as they come (never a second copy);
    with a cache, a rendered source's set, or one over :data:`MAP_OVER` bytes whose
    ``keys`` are given, is that array memory-mapped from the cache (instead of one file per
    image), written once and shared by every process that loads the same images with the
    same recipe, so its size is bounded by the disk, not the memory.
    """
    n = len(source)
    recipe = ImageCache.key(ops, size, dicom=source.dicom, gray=source.gray)
    if keys is None and source.render is not None:  # its keys cost nothing to make
        keys = source.rendered_keys()

    def prepare(i: int, *, store: bool) -> tuple[np.ndarray, np.ndarray | None]:
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
        if cache is not None and store:
            cache.put(recipe, sha, image=image, mask=mask)
        return image, mask

    stacked, masks = _mapped(source, recipe, keys, size, cache, prepare, workers, progress)
    if stacked is None:
        for channels in (_channels(prepare, n), 3):
            try:
                stacked, masks = _in_memory((n, channels, size, size), prepare, workers, progress)
                break
            except _Colour:
                continue
    assert stacked is not None
    mask_tensor = None
    if masks:
        mask_tensor = torch.zeros((n, size, size), dtype=torch.bool)
        for i, mask in masks.items():
            mask_tensor[i] = torch.from_numpy(mask)
    if source.targets is not None:
        labels = torch.from_numpy(np.array(source.targets, dtype=np.float32))
    else:
        index = {name: k for k, name in enumerate(source.classes)}
        labels = torch.tensor([index[label] for label in source.records["label"]], dtype=torch.long)
    return ImageSet(
        images=torch.from_numpy(stacked),
        labels=labels,
        masks=mask_tensor,
        classes=list(source.classes),
        ids=list(source.records["id"]),
    )


def _channels(prepare, n: int) -> int:
    """The channels of the first image (a set with a colour image is made again in colour)."""
    return prepare(0, store=False)[0].shape[2] if n else 1


def _mapped(source, recipe, keys, size, cache, prepare, workers, progress):
    """The set memory-mapped from the cache where it lies there already, or where it is
    large (``None, {}`` where it is not)."""
    n = len(source)
    if cache is None or keys is None or not n:
        return None, {}
    made = [c for c in (1, 3) if cache.set_path(recipe, keys, (n, c, size, size)).is_file()]
    channels = made[0] if made else _channels(prepare, n)
    if not made and source.render is None and n * channels * size * size <= MAP_OVER:
        return None, {}

    def write(shape: tuple[int, ...], sink: Callable[[np.ndarray], None]):
        return _fill(shape, sink, prepare, workers, progress, store=False)

    try:
        found = cache.image_set(recipe, keys, write, shape=(n, channels, size, size))
    except _Colour:
        found = cache.image_set(recipe, keys, write, shape=(n, 3, size, size))
    if progress is not None:
        progress(n, n)
    return found


def _in_memory(shape, prepare, workers, progress):
    out = np.empty(shape, dtype=np.uint8)
    done = 0

    def sink(chunk: np.ndarray) -> None:
        nonlocal done
        out[done : done + len(chunk)] = chunk
        done += len(chunk)

    return out, _fill(shape, sink, prepare, workers, progress, store=True)


def _fill(shape: tuple[int, ...], sink: Callable[[np.ndarray], None], prepare,
          workers: int | None, progress: Progress | None, *,
          store: bool) -> dict[int, np.ndarray]:  # fmt: skip
    """Prepare every image of an N × C × H × W set and hand them to ``sink`` in order, a
    chunk at a time (finished images never pile up); grey images of a colour set are
    repeated into its channels. Returns the lesion masks by position."""
    n, channels = shape[0], shape[1]
    masks: dict[int, np.ndarray] = {}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for start in range(0, n, _CHUNK):
            indices = range(start, min(n, start + _CHUNK))
            chunk = np.empty((len(indices), *shape[1:]), dtype=np.uint8)
            prepared = pool.map(lambda i: prepare(i, store=store), indices)
            for i, (image, mask) in zip(indices, prepared, strict=True):
                if image.shape[2] > channels:
                    raise _Colour
                chunk[i - start] = image.transpose(2, 0, 1)  # grey into colour: broadcast
                if mask is not None:
                    masks[i] = mask
                if progress is not None:
                    progress(i + 1, n)
            sink(chunk)
    return masks
