"""Dataset layout adapters: how a dataset lies on disk after unpacking → a :class:`Source`.

Each layout is one module that registers its reader with the pydantic model of its
``options`` (every layout accepts ``labels``, a renaming of its classes) and the writer of a
fake tree in its layout (``medbench data synth``, :func:`write_synthetic`). Official splits
found on disk are kept in the ``split`` column (``train``/``val``/``test``, or empty where
the dataset has none); groups (patients, slide regions) in ``group``, or with ``group:
patient_id`` the Patient ID of each DICOM header (kept only as a number within the dataset).
DICOM files are decoded as ``options.dicom`` says.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from benchmark.data.dicom import patient_id
from benchmark.data.layouts import (  # noqa: F401 (register)
    brain,
    breast,
    cervical,
    chexpert,
    generic,
    lung,
    medmnist,
    nih,
    synthetic_chest,
)
from benchmark.data.layouts._base import (
    LAYOUTS,
    MASK_SUFFIX,
    SPLIT_NAMES,
    Layout,
    LayoutOptions,
    Source,
    is_mask,
)
from benchmark.data.layouts._labels import Box, box_mask, label_summary
from benchmark.data.layouts._synth import write_synthetic
from benchmark.data.layouts.generic import SyntheticOptions
from benchmark.errors import DataError

__all__ = [
    "MASK_SUFFIX",
    "SPLIT_NAMES",
    "SYNTH_LAYOUTS",
    "Box",
    "Layout",
    "LayoutOptions",
    "Source",
    "SyntheticOptions",
    "box_mask",
    "create_source",
    "get_layout",
    "is_mask",
    "list_layouts",
    "write_synthetic",
]

SYNTH_LAYOUTS = tuple(name for name, layout in LAYOUTS.items() if layout.writer is not None)


def get_layout(name: str) -> Layout:
    return LAYOUTS.get(name)


def list_layouts() -> list[Layout]:
    return [layout for _, layout in LAYOUTS.items()]


def create_source(layout: str, root: Path | None, *, options: BaseModel | None = None) -> Source:
    """Index the dataset at ``root`` with ``layout`` (no pixels are decoded yet)."""
    spec = get_layout(layout)
    if spec.needs_root:
        if root is None:
            raise DataError(f"layout '{layout}' needs a `root:` folder, but none was given.")
        if not root.is_dir():
            raise DataError(
                f"dataset folder {root} does not exist (layout '{layout}'). Download the "
                "dataset and point `root:` (or MEDBENCH_DATA) at the unpacked folder, or "
                f"write a small fake one with `medbench data synth OUT --layout {layout}`."
            )
    options = options if options is not None else spec.options()
    source = spec.create(root, options)
    source = replace(source, dicom=getattr(options, "dicom", None))
    if getattr(options, "group", "layout") == "patient_id":
        source = _patient_groups(source, layout)
    source = _rename(source, getattr(options, "labels", {}))
    if source.multilabel:
        return _note_labels_per_split(source)
    _check_classes_per_split(source, layout)
    return source


def _rename(source: Source, labels: dict[str, str]) -> Source:
    if not labels:
        return source
    unknown = sorted(set(labels) - set(source.classes))
    if unknown:
        raise DataError(
            f"options.labels renames {unknown}, which the dataset does not have; its classes "
            f"are {source.classes}."
        )
    if source.targets is not None:
        return _rename_columns(source, source.targets, labels)
    records = source.records.assign(label=source.records["label"].replace(labels))
    return replace(source, records=records, classes=sorted(records["label"].unique()))


def _rename_columns(source: Source, targets: np.ndarray, labels: dict[str, str]) -> Source:
    """Multi-label: rename the label columns; columns given one name become one (present
    where any is, absent where any is observed absent, else missing)."""
    names = [labels.get(name, name) for name in source.classes]
    classes = list(dict.fromkeys(names))
    targets = np.stack(
        [
            np.fmax.reduce(targets[:, [j for j, n in enumerate(names) if n == name]], axis=1)
            for name in classes
        ],
        axis=1,
    ).astype(np.float32)
    records = source.records.assign(label=label_summary(targets, classes))
    return replace(source, records=records, classes=classes, targets=targets)


def _note_labels_per_split(source: Source) -> Source:
    """Multi-label: a label without a positive image in an official split is noted, not an
    error (the metrics leave such a label out and name it)."""
    records = source.records
    counts = source.counts()
    empty = [
        f"'{label}' has no positive image in the {split} split"
        for split, per in counts.items()
        if split in set(records["split"]) - {""}
        for label, n in per.items()
        if not n
    ]
    return replace(source, notes=source.notes + tuple(empty)) if empty else source


def _patient_groups(source: Source, layout: str) -> Source:
    """Each image's group from its DICOM Patient ID, kept only as a number within the
    dataset (so no identifier leaves the machine in split files or logs); files without
    one keep their own group."""
    if source.render is not None:
        raise DataError(
            f"options.group is patient_id, but the {layout} layout has no files to read it "
            "from; expected DICOM files. Remove `group: patient_id`."
        )
    ids = [patient_id(path) for path in source.records["path"]]
    if not any(ids):
        raise DataError(
            "options.group is patient_id, but none of the dataset's files has a DICOM "
            "Patient ID (0010,0020). Remove `group: patient_id`, or give the groups in a "
            "csv layout's `group` column."
        )
    # Numbered in order of the patients' sorted IDs: a group name says nothing of the ID
    # (a hash of a short number is reversed by trying them all) and links no two datasets.
    number = {pid: i for i, pid in enumerate(sorted({pid for pid in ids if pid}), start=1)}
    groups = [
        f"patient-{number[pid]:05d}" if pid else own
        for pid, own in zip(ids, source.records["group"], strict=True)
    ]
    notes = source.notes
    if missing := sum(pid is None for pid in ids):
        notes += (f"{missing} file(s) without a DICOM Patient ID keep a group of their own",)
    return replace(source, records=source.records.assign(group=groups), notes=notes)


def _check_classes_per_split(source: Source, layout: str) -> None:
    """Every class must appear in every official split the dataset has."""
    import pandas as pd

    records = source.records
    official = records[records["split"] != ""]
    if official.empty:
        return
    counts = pd.crosstab(official["label"], official["split"])
    counts = counts.reindex(index=source.classes, fill_value=0)
    holes = [
        (split, label) for split in counts for label in counts.index if not counts.at[label, split]
    ]
    if holes:
        found = {split: {k: int(v) for k, v in counts[split].items() if v} for split in counts}
        raise DataError(
            f"the {layout} dataset has no images of "
            + ", ".join(f"'{label}' in its {split} split" for split, label in holes)
            + f"; found per split: {found}. Check the download is complete."
        )
