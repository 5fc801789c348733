"""What every layout shares: the :class:`Source` it returns, its registry, its options, the
counts that its reader and its writer report, and helpers to find folders and scan
``<class>/`` folders safely."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchmark.data.dicom import DicomOptions
from benchmark.data.files import (
    IGNORED_DIRS,
    IMAGE_SUFFIXES,
    decode_image,
    is_image_file,
    walk_files,
)
from benchmark.data.layouts._labels import Box, box_mask, label_summary
from benchmark.errors import DataError
from benchmark.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.data.layouts._synth import WriteTree

MASK_SUFFIX = "_mask"
RECORD_COLUMNS = ["id", "label", "split", "group", "path", "mask"]
SPLIT_NAMES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}  # fmt: skip

Render = Callable[[int], tuple[np.ndarray, "np.ndarray | None"]]
Counts = dict[str, dict[str, int]]
NO_SPLIT = "all"  # how counts name the images of a dataset without official splits
_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def split_counts(
    records: pd.DataFrame,
    targets: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> Counts:
    """Images per official split and class (``all`` where the dataset has no split), the
    way ``medbench data synth`` and ``medbench data inspect`` report them; with multi-label
    ``targets``, the images per split where each of ``classes`` is present (0 included)."""
    counts: Counts = {}
    splits = records["split"].replace("", NO_SPLIT)
    if targets is not None:
        present = np.asarray(targets) == 1.0
        for split in splits.unique():
            rows = (splits == split).to_numpy()
            per = present[rows].sum(axis=0)
            counts[str(split)] = {str(c): int(n) for c, n in zip(classes, per, strict=True)}
        return dict(sorted(counts.items(), key=lambda kv: (_SPLIT_ORDER.get(kv[0], 3), kv[0])))
    for (split, label), n in records.groupby([splits, "label"]).size().items():
        counts.setdefault(str(split), {})[str(label)] = int(n)
    return dict(sorted(counts.items(), key=lambda kv: (_SPLIT_ORDER.get(kv[0], 3), kv[0])))


@dataclass(frozen=True)
class Source:
    """The images a layout found, one row per image in ``records`` (columns ``id`` — the
    path under the root —, ``label``, ``split`` — the official split or empty —, ``group``
    — the patient or other unit that must not straddle splits —, ``path`` and ``mask``).

    Files are decoded when needed, DICOM ones as ``dicom`` says; in-memory datasets give
    ``render`` instead of paths. ``notes`` say what was found but left out (copies,
    unlabelled folders, links, listed images absent on disk).

    A multi-label dataset has ``targets``: float32 N × L, 1.0 present, 0.0 absent, NaN
    missing, its columns ``classes``; ``label`` then holds the present labels joined by
    ``|`` in class order (``""`` for none). ``boxes`` (by image id) are lesion boxes, read
    as the mask of an image without a mask file. ``gray``: every image is grey, the few
    stored in colour (RGBA) are read as one channel.
    """

    records: pd.DataFrame
    classes: list[str]
    render: Render | None = None
    fingerprint: str = ""  # identifies rendered content (the generator's settings)
    notes: tuple[str, ...] = ()
    dicom: DicomOptions | None = None  # None: DicomOptions' defaults
    targets: np.ndarray | None = None  # multi-label: float32 N × L (NaN: missing)
    boxes: Mapping[str, Sequence[Box]] | None = None
    gray: bool = False

    def __len__(self) -> int:
        return len(self.records)

    @property
    def multilabel(self) -> bool:
        return self.targets is not None

    def counts(self) -> Counts:
        """Images per official split and class, or per label present (see
        :func:`split_counts`)."""
        return split_counts(self.records, self.targets, self.classes)

    def content(self, i: int) -> tuple[str, bytes | None]:
        """``(sha256, file bytes)`` of image ``i``; rendered images have no bytes, and their
        key is the generator's settings and the image id."""
        if self.render is not None:
            key = f"{self.fingerprint}:{self.records['id'].iat[i]}".encode()
            return hashlib.sha256(key).hexdigest(), None
        data = Path(self.records["path"].iat[i]).read_bytes()
        return hashlib.sha256(data).hexdigest(), data

    def rendered_keys(self) -> list[str]:
        """Every image's key (:meth:`content`) of a rendered source, at once."""
        fingerprint = self.fingerprint
        return [hashlib.sha256(f"{fingerprint}:{i}".encode()).hexdigest()
                for i in self.records["id"]]  # fmt: skip

    def read(self, i: int, data: bytes | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode image ``i`` (uint8 gray or RGB) and its lesion mask, if any."""
        if self.render is not None:
            return self.render(i)
        if data is None:
            data = Path(self.records["path"].iat[i]).read_bytes()
        mask_path = self.records["mask"].iat[i]
        mask = decode_image(Path(mask_path).read_bytes()) > 127 if mask_path else None
        if mask is not None and mask.ndim == 3:
            mask = np.asarray(mask.any(axis=2))
        image = decode_image(data, dicom=self.dicom)
        if self.gray and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if mask is None and self.boxes and (boxes := self.boxes.get(self.records["id"].iat[i])):
            mask = box_mask(boxes, image.shape)
        return image, mask

    def subset(self, keep: np.ndarray) -> Source:
        """The same source restricted to the rows where ``keep`` is true."""
        records = self.records[keep].reset_index(drop=True)
        render = self.render
        if render is not None:
            positions = np.flatnonzero(keep)
            parent = render

            def render(i: int) -> tuple[np.ndarray, np.ndarray | None]:
                return parent(int(positions[i]))

        targets = self.targets[np.asarray(keep)] if self.targets is not None else None
        return replace(self, records=records, render=render, targets=targets)


@dataclass(frozen=True)
class Layout:
    """A registered layout: its reader (``create``), the model of its options, and the
    writer of a fake tree in its layout (``medbench data synth``; None for a dataset that
    lives in memory), which also writes the file ``formats`` named (besides its own).
    ``task(root, options)``, where the dataset says its own task, is the one a suite's
    dataset gets when it states none (a ``task:`` value, or None where unknown)."""

    name: str
    description: str
    options: type[BaseModel]
    needs_root: bool
    create: Callable[[Path | None, BaseModel], Source]
    writer: WriteTree | None = None
    formats: tuple[str, ...] = ()
    task: Callable[[Path | None, Any], dict[str, Any] | None] | None = None


LAYOUTS: Registry[Layout] = Registry("layout")


class LayoutOptions(BaseModel):
    """Settings every layout accepts."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(
        default_factory=dict,
        description="rename classes (source name → new name; two sources may share a name)",
    )
    group: Literal["layout", "patient_id"] = Field(
        "layout",
        description="split groups: the layout's own, or the Patient ID of DICOM headers",
    )
    dicom: DicomOptions = Field(
        default_factory=DicomOptions, description="how DICOM pixels become 8-bit images"
    )


def register(
    name: str,
    *,
    options: type[BaseModel] = LayoutOptions,
    needs_root: bool = True,
    writer: WriteTree | None = None,
    formats: tuple[str, ...] = (),
    task: Callable[[Path | None, Any], dict[str, Any] | None] | None = None,
) -> Callable[[Callable[..., Source]], Callable[..., Source]]:
    """Register the decorated reader ``(root, options) -> Source`` as layout ``name``, with
    the model of its options, the ``writer`` of a fake tree beside it (same module) and,
    for a dataset that says its own task, ``task`` (see :class:`Layout`)."""

    def decorator(fn: Callable[..., Source]) -> Callable[..., Source]:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        spec = Layout(name, doc, options, needs_root, fn, writer, formats, task)
        LAYOUTS.register(name)(spec)
        return fn

    return decorator


def find_folder(root: Path, matches: Callable[[Path], bool], *, depth: int = 3) -> Path | None:
    """The shallowest folder at or under ``root`` (at most ``depth`` levels down) for which
    ``matches`` holds; links and ``__MACOSX`` are not entered."""
    return next(find_folders(root, matches, depth=depth), None)


def find_folders(root: Path, matches: Callable[[Path], bool], *, depth: int = 3) -> Iterator[Path]:
    """Every folder at or under ``root`` (at most ``depth`` levels down) for which ``matches``
    holds, shallowest first."""
    queue = deque([(root, 0)])
    while queue:
        folder, level = queue.popleft()
        if matches(folder):
            yield folder
        if level < depth:
            queue.extend(
                (child, level + 1)
                for child in sorted(folder.iterdir())
                if child.is_dir() and not child.is_symlink() and child.name not in IGNORED_DIRS
            )


def not_found(root: Path, layout: str, *, expected: str) -> DataError:
    """The error for a folder that does not hold ``layout``: what was expected, what is there."""
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12]
    return DataError(
        f"{root} is not in the {layout} layout: expected {expected}, but found "
        f"{found or 'nothing'}. Point `root:` at the unpacked download, or check `layout:` "
        "(`medbench list layouts`)."
    )


def is_mask(path: Path) -> bool:
    """A lesion mask lying beside its image (``<stem>_mask.png``), not an image to classify."""
    return path.stem.endswith(MASK_SUFFIX)


def image_files(folder: Path, skipped: list[str]) -> list[Path]:
    """Image files under ``folder`` (recursively, safely), masks excluded."""
    return [p for p in walk_files(folder, skipped) if is_image_file(p) and not is_mask(p)]


def class_folder_rows(
    folder: Path,
    split: str,
    *,
    skipped: list[str],
    label: Callable[[str], str] = str,
    only: Iterable[str] | None = None,
) -> list[dict]:
    """One row per image under ``folder/<class>/`` (every subfolder, or those named in
    ``only``); a ``<stem>_mask.*`` beside an image is its lesion mask. An empty class
    folder is an error."""
    rows, empty = [], []
    if only is None:
        class_dirs = [
            p
            for p in sorted(folder.iterdir())
            if p.is_dir()
            and not p.is_symlink()
            and p.name not in IGNORED_DIRS
            and not p.name.startswith(".")
        ]
    else:
        class_dirs = [folder / name for name in only]
    for class_dir in class_dirs:
        files = [p for p in walk_files(class_dir, skipped) if is_image_file(p)]
        masks = {p.with_name(p.stem.removesuffix(MASK_SUFFIX)): p for p in files if is_mask(p)}
        images = [p for p in files if not is_mask(p)]
        if not images:
            empty.append(class_dir)
        for path in images:
            mask = masks.get(path.with_suffix(""), "")
            rows.append(
                {"label": label(class_dir.name), "split": split, "path": path, "mask": mask}
            )
    if empty:
        raise DataError(
            f"class folders without images: {[str(p) for p in empty]}. Remove them, or fill "
            f"them with images ({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return rows


def make_source(
    root: Path,
    rows: list[dict],
    *,
    expected: str,
    notes: Iterable[str] = (),
    classes: Sequence[str] | None = None,
    targets: np.ndarray | None = None,
    boxes: Mapping[str, Sequence[Box]] | None = None,
    gray: bool = False,
) -> Source:
    """Rows of ``label``, ``split``, ``path`` (and optionally ``group``, ``mask``) → Source,
    with ids relative to ``root``. An image's group defaults to the image itself.

    A multi-label dataset gives ``classes`` and ``targets`` (one row per row of ``rows``,
    no ``label`` needed: it becomes the summary of the present labels); ``boxes`` are keyed
    by each image's path (as a string)."""
    import pandas as pd

    if not rows:
        raise DataError(f"no images found under {root}; expected {expected}.")
    table = pd.DataFrame(rows)
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float32)
        table["label"] = label_summary(targets, classes or [])
        table["_row"] = np.arange(len(table))
    table["id"] = [Path(p).relative_to(root).as_posix() for p in table["path"]]
    table["path"] = table["path"].map(str)
    for column in ("split", "group", "mask"):
        if column not in table:
            table[column] = ""
    table["mask"] = table["mask"].map(str)
    table["group"] = table["group"].where(table["group"].astype(bool), table["id"])
    if boxes is not None:
        ids = dict(zip(table["path"], table["id"], strict=True))
        boxes = {ids[str(path)]: kept for path, kept in boxes.items() if str(path) in ids}
    table = table.sort_values("id", kind="stable").reset_index(drop=True)
    if targets is not None:
        return Source(
            records=table[RECORD_COLUMNS],
            classes=list(classes or []),
            notes=tuple(notes),
            targets=targets[table["_row"].to_numpy()],
            boxes=boxes,
            gray=gray,
        )
    classes = sorted(table["label"].unique())
    return Source(
        records=table[RECORD_COLUMNS], classes=classes, notes=tuple(notes), boxes=boxes, gray=gray
    )
