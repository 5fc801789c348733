"""Dataset layout adapters: how a dataset lies on disk → a table of images and a reader.

Each layout is registered with the pydantic model of its ``options`` and a ``create``
function returning a :class:`Source`. Official splits found on disk are kept in the
``split`` column (``train``/``val``/``test``, or empty where the dataset has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from benchmark.data.phantoms import CLASSES, render_phantom
from benchmark.errors import DataError
from benchmark.registry import Registry

__all__ = [
    "IMAGE_SUFFIXES",
    "Layout",
    "Source",
    "create_source",
    "get_layout",
    "is_mask",
    "list_layouts",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm"}
MASK_SUFFIX = "_mask"
RECORD_COLUMNS = ["id", "label", "split", "group", "path"]

Reader = Callable[[int], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class Source:
    """The images a layout found: one row per image in ``records``, read by position."""

    records: pd.DataFrame
    classes: list[str]
    read: Reader

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    options: type[BaseModel]
    needs_root: bool
    create: Callable[[Path | None, BaseModel], Source]


_LAYOUTS: Registry[Layout] = Registry("layout")


def get_layout(name: str) -> Layout:
    return _LAYOUTS.get(name)


def list_layouts() -> list[Layout]:
    return [layout for _, layout in _LAYOUTS.items()]


def create_source(layout: str, root: Path | None, options: BaseModel | None = None) -> Source:
    """Index the dataset at ``root`` with ``layout`` (no pixels are decoded yet)."""
    spec = get_layout(layout)
    if spec.needs_root:
        if root is None:
            raise DataError(f"layout '{layout}' needs a `root:` folder, but none was given.")
        if not root.is_dir():
            raise DataError(
                f"dataset folder {root} does not exist (layout '{layout}'). Download the "
                "dataset and point `root:` (or MEDBENCH_DATA) at the unpacked folder, or "
                "write a small fake one with `medbench data synth`."
            )
    return spec.create(root, options if options is not None else spec.options())


def _register(name: str, *, options: type[BaseModel], needs_root: bool = True):
    def decorator(fn: Callable[[Path | None, BaseModel], Source]):
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        _LAYOUTS.register(name)(Layout(name, doc, options, needs_root, fn))
        return fn

    return decorator


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- synthetic ---------------------------------------------------------------------------


class SyntheticOptions(_Options):
    per_class: int = Field(100, ge=1, description="images per class")
    size: int = Field(128, ge=16, description="rendered size in pixels")
    difficulty: float = Field(0.5, ge=0.0, le=1.0, description="0 easy … 1 hard")
    classes: list[str] = Field(default_factory=lambda: list(CLASSES), min_length=2)
    seed: int = Field(0, description="phantom stream; independent of the suite's seed")

    @field_validator("classes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CLASSES))
        if unknown:
            raise ValueError(f"unknown phantom classes {unknown}: expected some of {list(CLASSES)}")
        return value


@_register("synthetic", options=SyntheticOptions, needs_root=False)
def _synthetic(root: Path | None, options: SyntheticOptions) -> Source:
    """Brain-MRI phantoms rendered in memory, with lesion masks (no download)."""
    n = options.per_class * len(options.classes)
    labels = [options.classes[i % len(options.classes)] for i in range(n)]
    ids = [f"phantom_{options.seed}_{i:05d}" for i in range(n)]
    records = pd.DataFrame({"id": ids, "label": labels, "split": "", "group": ids, "path": ""})

    def read(i: int) -> tuple[np.ndarray, np.ndarray]:
        p = render_phantom(
            i, seed=options.seed, size=options.size, difficulty=options.difficulty, label=labels[i]
        )
        return p.image, p.mask

    return Source(records=records, classes=list(options.classes), read=read)


# --- folders of images -------------------------------------------------------------------

_SPLIT_NAMES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}  # fmt: skip


def _scan_class_folders(folder: Path, split: str) -> list[dict]:
    """One row per image under ``folder/<class>/``; ``mask`` is the ``*_mask.*`` beside it."""
    rows = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = [p for p in sorted(class_dir.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        masks = {p.with_name(p.stem.removesuffix(MASK_SUFFIX)): p for p in files if is_mask(p)}
        for path in files:
            if not is_mask(path) and path.is_file():
                mask = masks.get(path.with_suffix(""), "")
                rows.append(
                    {"label": class_dir.name, "split": split, "path": str(path), "mask": str(mask)}
                )
    return rows


def is_mask(path: Path) -> bool:
    """A lesion mask lying beside its image (``<stem>_mask.png``), not an image to classify."""
    return path.stem.endswith(MASK_SUFFIX)


def _folder_source(root: Path, rows: list[dict], what: str) -> Source:
    if not rows:
        raise DataError(
            f"no images found under {root} ({what}); expected files ending in "
            f"{sorted(IMAGE_SUFFIXES)}."
        )
    table = pd.DataFrame(rows)
    table["id"] = [str(Path(p).relative_to(root)) for p in table["path"]]
    table["group"] = table["id"]
    classes = sorted(table["label"].unique())
    paths, masks = list(table["path"]), list(table["mask"])

    def read(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        image = cv2.imread(paths[i], cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DataError(f"cannot decode image {paths[i]}: the file is corrupt or not an image.")
        mask = cv2.imread(masks[i], cv2.IMREAD_GRAYSCALE) if masks[i] else None
        return image, None if mask is None else mask > 127

    return Source(records=table[RECORD_COLUMNS], classes=classes, read=read)


class FolderOptions(_Options):
    pass


@_register("imagefolder", options=FolderOptions)
def _imagefolder(root: Path, options: FolderOptions) -> Source:
    """root/<split>/<class>/* or root/<class>/*; split folders train/val/test are kept."""
    subdirs = [p for p in root.iterdir() if p.is_dir()]
    if subdirs and all(p.name.lower() in _SPLIT_NAMES for p in subdirs):
        rows = [r for p in subdirs for r in _scan_class_folders(p, _SPLIT_NAMES[p.name.lower()])]
    else:
        rows = _scan_class_folders(root, "")
    return _folder_source(
        root, rows, "imagefolder layout: root/<class>/* or root/<split>/<class>/*"
    )


@_register("brain-tumor-mri", options=FolderOptions)
def _brain_tumor_mri(root: Path, options: FolderOptions) -> Source:
    """Kaggle Brain Tumor MRI: Training/ and Testing/, each with one folder per class."""
    missing = [name for name in ("Training", "Testing") if not (root / name).is_dir()]
    if missing:
        found = sorted(p.name for p in root.iterdir())
        raise DataError(
            f"{root} is not in the brain-tumor-mri layout: missing {missing} "
            f"(found {found}). Point `root:` at the folder holding Training/ and Testing/."
        )
    rows = _scan_class_folders(root / "Training", "train") + _scan_class_folders(
        root / "Testing", "test"
    )
    return _folder_source(root, rows, "brain-tumor-mri layout: Training/<class>/*.jpg")
