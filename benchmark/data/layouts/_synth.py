"""What every layout's writer shares: the :class:`PhantomWriter` that renders phantoms and
writes them, counting what the layout's reader will find, and :func:`write_synthetic`, which
dispatches to the writer registered with the layout (``medbench data synth``).

Each writer lies beside its reader and mirrors the archive users download: folder and file
names, extensions, the nested copies and side files, the annotation files. The phantom
classes stand in for the dataset's classes; a dataset with more classes than phantoms tells
the extra ones apart by a colour tint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from benchmark.data.dicom import write_dicom
from benchmark.data.layouts._base import LAYOUTS, Counts, split_counts
from benchmark.data.layouts._labels import targets_of
from benchmark.data.phantoms import render_phantom
from benchmark.errors import DataError

__all__ = ["SYNTH_FORMATS", "PhantomWriter", "WriteTree", "write_synthetic"]

Progress = Callable[[int, int], None]
SYNTH_FORMATS = {"png": ".png", "dcm": ".dcm"}  # for the writers that take a file format
_TINTS = [(1.0, 1.0, 1.0), (1.0, 0.75, 0.85), (0.8, 0.9, 1.0), (1.0, 0.95, 0.7), (0.75, 1.0, 0.8)]


class PhantomWriter:
    """Renders phantoms and writes them under ``out``; ``counts`` are the images the
    layout's reader will find (with its default options), per official split and class
    (multi-label: per split and label present)."""

    def __init__(
        self,
        out: Path,
        *,
        per_class: int,
        size: int,
        seed: int,
        difficulty: float,
        test_fraction: float,
        suffix: str = "",
        progress: Progress | None = None,
    ) -> None:
        self.out, self.per_class, self.size = out, per_class, size
        self.seed, self.difficulty = seed, difficulty
        self.suffix = suffix  # the file format of writers without one of their own ("": theirs)
        self.test_count = max(1, round(per_class * test_fraction)) if per_class > 1 else 0
        self.progress, self.total, self.done = progress, 0, 0
        self._found: list[tuple[str, str | frozenset[str]]] = []
        self.labels: tuple[str, ...] | None = None

    def expect(self, files: int, *, labels: Sequence[str] | None = None) -> None:
        """How many files ``write`` will be called for (the progress bar's total), and for
        a multi-label dataset its ``labels`` (each write then names the labels present)."""
        self.total = files
        self.labels = tuple(labels) if labels is not None else None

    def is_test(self, k: int) -> bool:
        """Whether a class's ``k``-th image goes to the official test split."""
        return k < self.test_count

    def image(
        self, index: int, phantom: str, *, tint: int | None = None, height: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``index``-th phantom of class ``phantom`` and its lesion mask; ``height``
        adds rows below (a taller scan), ``tint`` colours it (classes sharing a phantom)."""
        p = render_phantom(
            index, seed=self.seed, size=self.size, difficulty=self.difficulty, label=phantom
        )
        image, mask = p.image, p.mask
        if height is not None and height > self.size:
            image = cv2.copyMakeBorder(image, 0, height - self.size, 0, 0, cv2.BORDER_CONSTANT)
        if tint is not None:
            colour = np.array(_TINTS[tint % len(_TINTS)], dtype=np.float32)
            image = np.clip(image[..., None] * colour, 0, 255).astype(np.uint8)
        return image, mask

    def chest(self, index: int, present: Iterable[int], *, labels: int) -> np.ndarray:
        """A grey chest radiograph-like image (lungs, spine, heart, noise) with a bright
        patch for each ``present`` finding (of ``labels``), each in a place of its own."""
        size = self.size
        rng = np.random.default_rng([self.seed, index, 7])
        image = np.full((size, size), 40, np.float32)
        yy, xx = np.mgrid[0:size, 0:size] / size
        for cx in (0.3, 0.7):  # the lungs
            lung = ((xx - cx) / 0.17) ** 2 + ((yy - 0.5) / 0.33) ** 2 < 1
            image[lung] = 25
        image[np.abs(xx - 0.5) < 0.05] = 150  # the spine
        image[((xx - 0.56) / 0.14) ** 2 + ((yy - 0.66) / 0.12) ** 2 < 1] = 120  # the heart
        for k in present:
            angle = 2 * np.pi * k / max(labels, 1)
            cx, cy = 0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)
            patch = ((xx - cx) ** 2 + (yy - cy) ** 2) < (0.06 + 0.02 * self.difficulty) ** 2
            image[patch] += 90 * (1.0 - 0.6 * self.difficulty)
        image += rng.normal(0, 6 + 20 * self.difficulty, image.shape)
        return np.clip(image, 0, 255).astype(np.uint8)

    def write(
        self,
        path: Path,
        image: np.ndarray,
        *,
        label: str | Iterable[str] | None = None,
        split: str = "",
        patient: str = "",
    ) -> None:
        """Write ``image`` (RGB, RGBA or gray; ``.dcm`` as a DICOM slice of ``patient``).
        The reader finds it as ``label`` (multi-label: the labels present, any iterable) in
        the official ``split`` (``""``: none); without a label, it is a file the reader
        leaves out."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if image.ndim == 3 and image.shape[2] == 4:
            bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
        else:
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
        if path.suffix == ".dcm":
            write_dicom(path, image, patient=patient or path.stem, instance=self.done + 1)
        elif not cv2.imwrite(str(path), bgr):
            raise DataError(f"cannot write {path}.")
        self.found(label, split=split)

    def found(self, label: str | Iterable[str] | None, *, split: str = "") -> None:
        """Count one image the reader will find (``write`` calls it; a writer that packs
        many images into one file calls it for each), and move the progress bar on."""
        if label is not None:
            self._found.append((split, label if isinstance(label, str) else frozenset(label)))
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def counts(self) -> Counts:
        import pandas as pd

        found = pd.DataFrame(self._found, columns=["split", "label"])
        if self.labels is None:
            return split_counts(found)
        targets = targets_of(found["label"], self.labels)
        return split_counts(found, targets, self.labels)


WriteTree = Callable[[PhantomWriter], None]


def write_synthetic(
    out: Path,
    *,
    layout: str = "brain-tumor-mri",
    per_class: int = 20,
    size: int = 128,
    seed: int = 0,
    difficulty: float = 0.5,
    test_fraction: float = 0.2,
    format: str | None = None,
    progress: Progress | None = None,
) -> Counts:
    """Write ``per_class`` phantoms per class under ``out`` in ``layout``; return the counts
    per official split and class (``all``: none) that the layout's reader will find with its
    default options (:meth:`Source.counts`).

    Splits follow the dataset: official folders where it has them (``test_fraction`` of
    each class in the test folder), none where it has none. ``format`` (``png`` or ``dcm``,
    for the layouts that take one) is the file format: ``dcm`` writes 12-bit DICOM slices,
    two per synthetic patient (its Patient ID).
    """
    spec = LAYOUTS.get(layout) if layout in LAYOUTS else None
    if spec is None or spec.writer is None:
        writers = [name for name, s in LAYOUTS.items() if s.writer is not None]
        raise DataError(f"cannot synthesise layout '{layout}': expected one of {writers}.")
    if format is not None and format not in spec.formats:
        takes = [name for name, s in LAYOUTS.items() if s.formats]
        raise DataError(
            f"format '{format}' for layout '{layout}': expected one of {list(SYNTH_FORMATS)} "
            f"with a layout of {takes} (the others write their dataset's own)."
        )
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists and is not empty: choose a new folder.")
    w = PhantomWriter(
        out,
        per_class=per_class,
        size=size,
        seed=seed,
        difficulty=difficulty,
        test_fraction=test_fraction,
        suffix=SYNTH_FORMATS[format] if format is not None else "",
        progress=progress,
    )
    spec.writer(w)
    return w.counts()
