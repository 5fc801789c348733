"""Lung CT and chest X-ray datasets: each layout's writer of a fake tree, then its reader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import cv2
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
from benchmark.data.layouts._synth import PhantomWriter

_IQ_CLASSES = ("Bengin cases", "Malignant cases", "Normal cases")


def write_iq_oth_nccd(w: PhantomWriter) -> None:
    """The folder nested twice, a class folder each (source spelling "Bengin"), some taller
    scans, a side file, and an unlabelled "Test cases" folder."""
    top = w.out / "The IQ-OTHNCCD lung cancer dataset" / "The IQ-OTHNCCD lung cancer dataset"
    phantom = {"Bengin": "meningioma", "Malignant": "glioma", "Normal": "notumor"}
    w.expect(len(phantom) * w.per_class + 1)
    for c, (label, kind) in enumerate(phantom.items()):
        for k in range(w.per_class):
            tall = round(w.size * 1.22) if k % 5 == 4 else None  # some scans are 512×623
            image, _ = w.image(k * 3 + c, kind, height=tall)
            w.write(top / f"{label} cases" / f"{label} case ({k + 1}).jpg", image, label=label)
    (top.parent / "IQ-OTH-NCCD lung cancer dataset.txt").write_text(
        "The Iraq-Oncology Teaching Hospital/National Center for Cancer Diseases dataset.\n"
    )
    image, _ = w.image(999, "glioma")
    w.write(top / "Test cases" / "Test case (1).jpg", image)  # unlabelled: left out


@register("iq-oth-nccd", writer=write_iq_oth_nccd)
def iq_oth_nccd(root: Path, options: LayoutOptions) -> Source:
    """IQ-OTH/NCCD lung CT: Bengin/Malignant/Normal cases (source spelling kept)."""
    top = find_folder(root, lambda p: all((p / name).is_dir() for name in _IQ_CLASSES))
    if top is None:
        raise not_found(root, "iq-oth-nccd", expected=f"a folder holding {list(_IQ_CLASSES)}")
    skipped: list[str] = []
    rows = class_folder_rows(
        top, "", skipped=skipped, only=_IQ_CLASSES, label=lambda name: name.removesuffix(" cases")
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


def write_chest_xray_pneumonia(w: PhantomWriter) -> None:
    """chest_xray/train|val|test/NORMAL|PNEUMONIA (a tiny val split), two images per
    patient, bacteria and virus in the names, the zip's nested copy and macOS forks."""
    top = w.out / "chest_xray"
    kinds = {"NORMAL": "notumor", "bacteria": "glioma", "virus": "meningioma"}
    w.expect(len(kinds) * w.per_class)
    for c, (kind, phantom) in enumerate(kinds.items()):
        label = "NORMAL" if kind == "NORMAL" else "PNEUMONIA"
        for k in range(w.per_class):
            split = "test" if w.is_test(k) else "train"
            if k == w.per_class - 1 and w.per_class > 2:
                split = "val"  # the official val split is tiny
            person = 1000 * c + k // 2 + 1  # two images per patient
            if kind == "NORMAL":
                name = f"IM-{person:04d}-{k % 2 + 1:04d}.jpeg"
                if k % 3 == 2:
                    name = f"NORMAL2-IM-{person:04d}-{k % 2 + 1:04d}.jpeg"
            else:
                name = f"person{person}_{kind}_{k}.jpeg"
            image, _ = w.image(k * 3 + c, phantom)
            w.write(top / split / label / name, image, split=split, label=label)
            if k < 2:  # the zip's nested copy and macOS resource forks
                for copy in (
                    top / "chest_xray" / split / label,
                    w.out / "__MACOSX" / "chest_xray" / split / label,
                ):
                    copy.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(copy / name), image)


_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)
_KIND = re.compile(r"_(bacteria|virus)_", re.IGNORECASE)


@register("chest-xray-pneumonia", options=ChestXrayOptions, writer=write_chest_xray_pneumonia)
def chest_xray_pneumonia(root: Path, options: ChestXrayOptions) -> Source:
    """Kaggle Chest X-Ray Images (Pneumonia): chest_xray/train|val|test/NORMAL|PNEUMONIA."""

    def has_splits(p: Path) -> bool:
        return (p / "train").is_dir() and (p / "test").is_dir()

    found = list(find_folders(root, has_splits))
    if not found:
        raise not_found(root, "chest-xray-pneumonia", expected="chest_xray/ with train/ and test/")
    top, *copies = found
    skipped: list[str] = []
    rows = []
    for split in ("train", "val", "test"):
        if (top / split).is_dir():
            rows += class_folder_rows(
                top / split, split, skipped=skipped, only=("NORMAL", "PNEUMONIA")
            )
    for row in rows:
        name = Path(row["path"]).name
        patient = _PATIENT.search(name)
        row["group"] = next(g for g in patient.groups() if g) if patient else ""
        if options.task == "three-class" and row["label"] == "PNEUMONIA":
            kind = _KIND.search(name)
            row["label"] = kind.group(1).upper() if kind else "PNEUMONIA"
    notes = [f"{copy.relative_to(root)}: a nested copy of the dataset, ignored" for copy in copies]
    return make_source(root, rows, expected="chest_xray/train/NORMAL/*.jpeg", notes=notes + skipped)
