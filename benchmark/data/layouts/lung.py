"""Lung CT and chest X-ray datasets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    class_folder_rows,
    find_folder,
    find_folders,
    image_files,
    make_source,
    not_found,
    register,
)

_IQ_CLASSES = ("Bengin cases", "Malignant cases", "Normal cases")


@register("iq-oth-nccd")
def iq_oth_nccd(root: Path, options: LayoutOptions) -> Source:
    """IQ-OTH/NCCD lung CT: Bengin/Malignant/Normal cases (source spelling kept)."""
    top = find_folder(root, lambda p: all((p / name).is_dir() for name in _IQ_CLASSES))
    if top is None:
        raise not_found(root, "iq-oth-nccd", f"a folder holding {list(_IQ_CLASSES)}")
    skipped: list[str] = []
    rows = class_folder_rows(
        top, "", skipped, only=_IQ_CLASSES, label=lambda name: name.removesuffix(" cases")
    )
    notes = list(skipped)
    unlabelled = top / "Test cases"
    if unlabelled.is_dir():
        count = len(image_files(unlabelled, skipped))
        notes.append(f"{unlabelled.relative_to(root)}: {count} unlabelled image(s) left out")
    return make_source(root, rows, expected="Bengin cases/*.jpg and the like", notes=notes)


class ChestXrayOptions(LayoutOptions):
    task: Literal["two-class", "three-class"] = Field(
        "two-class",
        description="NORMAL vs PNEUMONIA, or NORMAL/BACTERIA/VIRUS from the file names",
    )


_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)
_KIND = re.compile(r"_(bacteria|virus)_", re.IGNORECASE)


@register("chest-xray-pneumonia", options=ChestXrayOptions)
def chest_xray_pneumonia(root: Path, options: ChestXrayOptions) -> Source:
    """Kaggle Chest X-Ray Images (Pneumonia): chest_xray/train|val|test/NORMAL|PNEUMONIA."""

    def has_splits(p: Path) -> bool:
        return (p / "train").is_dir() and (p / "test").is_dir()

    top, *copies = list(find_folders(root, has_splits)) or [None]
    if top is None:
        raise not_found(root, "chest-xray-pneumonia", "chest_xray/ with train/ and test/")
    skipped: list[str] = []
    rows = []
    for split in ("train", "val", "test"):
        if (top / split).is_dir():
            rows += class_folder_rows(top / split, split, skipped, only=("NORMAL", "PNEUMONIA"))
    for row in rows:
        name = Path(row["path"]).name
        patient = _PATIENT.search(name)
        row["group"] = next(g for g in patient.groups() if g) if patient else ""
        if options.task == "three-class" and row["label"] == "PNEUMONIA":
            kind = _KIND.search(name)
            row["label"] = kind.group(1).upper() if kind else "PNEUMONIA"
    notes = [f"{copy.relative_to(root)}: a nested copy of the dataset, ignored" for copy in copies]
    return make_source(root, rows, expected="chest_xray/train/NORMAL/*.jpeg", notes=notes + skipped)
