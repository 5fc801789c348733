"""Write synthetic phantoms to disk in a real dataset's layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmark.data.layouts import MASK_SUFFIX
from benchmark.data.phantoms import CLASSES, render_phantom
from benchmark.errors import DataError

__all__ = ["SYNTH_LAYOUTS", "write_synthetic"]

SYNTH_LAYOUTS = ("brain-tumor-mri",)
_PREFIX = {"glioma": "gl", "meningioma": "me", "notumor": "no", "pituitary": "pi"}


def write_synthetic(
    out: Path,
    *,
    layout: str = "brain-tumor-mri",
    per_class: int = 20,
    size: int = 128,
    seed: int = 0,
    difficulty: float = 0.5,
    test_fraction: float = 0.2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Write ``per_class`` phantoms per class under ``out``; return counts per split and class.

    ``brain-tumor-mri`` mirrors the Kaggle archive: ``Training/`` and ``Testing/`` with one
    folder per class and files named like ``Tr-gl_0001.jpg``; each lesion mask lies beside
    its image as ``Tr-gl_0001_mask.png``.
    """
    if layout not in SYNTH_LAYOUTS:
        raise DataError(
            f"cannot synthesise layout '{layout}': expected one of {list(SYNTH_LAYOUTS)}."
        )
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists and is not empty: choose a new folder.")
    n_test = max(1, round(per_class * test_fraction)) if per_class > 1 else 0
    counts: dict[str, dict[str, int]] = {"Training": {}, "Testing": {}}
    total, done = per_class * len(CLASSES), 0
    for c, label in enumerate(CLASSES):
        for k in range(per_class):
            split, tag = ("Testing", "Te") if k < n_test else ("Training", "Tr")
            number = k if split == "Testing" else k - n_test
            phantom = render_phantom(
                k * len(CLASSES) + c, seed=seed, size=size, difficulty=difficulty, label=label
            )
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            stem = f"{tag}-{_PREFIX[label]}_{number:04d}"
            _write(folder / f"{stem}.jpg", phantom.image)
            _write(folder / f"{stem}{MASK_SUFFIX}.png", phantom.mask.astype(np.uint8) * 255)
            counts[split][label] = counts[split].get(label, 0) + 1
            done += 1
            if progress is not None:
                progress(done, total)
    return counts


def _write(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise DataError(f"cannot write {path}.")
