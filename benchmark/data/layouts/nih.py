"""NIH ChestX-ray14: fourteen findings per chest X-ray, read as downloaded (the Kaggle copy
or NIH's own), with its official patient split and its lesion boxes; the writer of a fake
tree, then the reader."""

from __future__ import annotations

import csv as csvlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, field_validator

from benchmark.data.files import is_image_file, walk_files
from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    find_folder,
    make_source,
    not_found,
    register,
)
from benchmark.data.layouts._labels import Box, pick_findings, targets_of
from benchmark.data.layouts._synth import PhantomWriter
from benchmark.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

NIH_FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia",
)  # fmt: skip
NO_FINDING = "No Finding"
ENTRIES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")  # the newer one first
BOXES = "BBox_List_2017.csv"
SPLIT_LISTS = {"test": "test_list.txt", "": "train_val_list.txt"}
BOX_FRAME = (1024, 1024)  # the boxes' pixels: those of the 1024 × 1024 PNGs
_BOX_NAMES = {"Infiltrate": "Infiltration"}  # the box list's spelling → the labels'
_BOXED = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
          "Pneumonia", "Pneumothorax")  # fmt: skip
_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")


class NihOptions(LayoutOptions):
    findings: list[str] | None = Field(
        None,
        description=f"keep these findings as the labels (default: all 14: {list(NIH_FINDINGS)}); "
        "an image with none of them counts as having no finding",
    )
    views: list[str] = Field(
        default_factory=lambda: ["PA", "AP"],
        description="keep images of these View Positions (PA, AP)",
        min_length=1,
    )
    boxes: bool = Field(True, description=f"lesion masks from the boxes of {BOXES}")
    entries: str | None = Field(
        None, description=f"the label file under root (default: {ENTRIES[0]}, else {ENTRIES[1]})"
    )

    @field_validator("findings")
    @classmethod
    def _known_findings(cls, value: list[str] | None) -> list[str] | None:
        pick_findings(NIH_FINDINGS, value)
        return value

    @field_validator("views")
    @classmethod
    def _known_views(cls, value: list[str]) -> list[str]:
        unknown = sorted({v.upper() for v in value} - {"PA", "AP"})
        if unknown:
            raise ValueError(f"unknown views {unknown}: expected some of ['PA', 'AP']")
        return [v.upper() for v in value]


def write_nih_chestxray14(w: PhantomWriter) -> None:
    """The Kaggle copy: Data_Entry_2017.csv (trailing commas), images spread over
    images_001/images/ … images_012/images/, a few RGBA PNGs among the grey ones, PA and AP
    views, the official patient split lists, BBox_List_2017.csv (its header spread over
    four columns, "Infiltrate" for Infiltration) and one listed image absent."""
    labels = len(NIH_FINDINGS)
    base = w.per_class * labels  # each finding in turn, then per_class with no finding
    n = base + w.per_class
    w.expect(n, labels=NIH_FINDINGS)
    entries = [
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    ]
    boxes = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    lists: dict[str, list[str]] = {"test": [], "": []}
    for k in range(n + 1):  # one more: listed, but absent on disk
        patient = k // 2 + 1  # two images a patient (a follow-up)
        name = f"{patient:08d}_{k % 2:03d}.png"
        present = [] if k >= base else [k % labels]
        if present and k % 3 == 1 and (k * 5 + 2) % labels != present[0]:
            present.append((k * 5 + 2) % labels)
        findings = [NIH_FINDINGS[j] for j in sorted(present)]
        first = 2 * (k // 2)  # a patient's split follows its first image's turn
        split = "test" if w.is_test(first // labels if first < base else first - base) else ""
        lists[split].append(name)
        view = "AP" if k % 3 == 2 else "PA"
        entries.append(
            f"{name},{'|'.join(findings) or NO_FINDING},{k % 2},{patient},{30 + k % 50},"
            f"{'MF'[k % 2]},{view},2500,2048,0.168,0.168,"
        )
        if k == n:
            break  # listed, not written
        image = w.chest(k, present, labels=labels)
        if k % 7 == 5:  # a few PNGs are RGBA
            image = np.dstack([image, image, image, np.full_like(image, 255)])
        folder = w.out / f"images_{k * 12 // n + 1:03d}" / "images"
        w.write(folder / name, image, label=findings, split=split)
        boxed = [f for f in findings if f in _BOXED]
        if split == "test" and boxed:
            j = NIH_FINDINGS.index(boxed[0])
            angle = 2 * np.pi * j / labels  # where w.chest drew the finding, in 1024 pixels
            x, y = 1024 * (0.5 + 0.3 * np.cos(angle)) - 80, 1024 * (0.5 + 0.3 * np.sin(angle)) - 80
            label = "Infiltrate" if boxed[0] == "Infiltration" else boxed[0]
            boxes.append(f"{name},{label},{x:.12g},{y:.12g},160.0,160.0")
    w.out.mkdir(parents=True, exist_ok=True)
    (w.out / ENTRIES[1]).write_text("\n".join(entries) + "\n")
    (w.out / BOXES).write_text("\n".join(boxes) + "\n")
    for split, file in SPLIT_LISTS.items():
        (w.out / file).write_text("".join(f"{name}\n" for name in lists[split]))


@register("nih-chestxray14", options=NihOptions, writer=write_nih_chestxray14)
def nih_chestxray14(root: Path, options: NihOptions) -> Source:
    """NIH ChestX-ray14: Data_Entry_2017.csv + images*/ (14 findings per image; multi-label)."""
    names = (options.entries,) if options.entries else ENTRIES
    top = find_folder(root, lambda p: any((p / name).is_file() for name in names), depth=2)
    if top is None:
        raise not_found(
            root, "nih-chestxray14", expected=" or ".join(names) + " beside the image folders"
        )
    entries = next(top / name for name in names if (top / name).is_file())
    table = _read_entries(entries, views=set(options.views) != {"PA", "AP"})
    skipped: list[str] = []
    files = _image_files(top, skipped)
    notes: list[str] = []
    if unlisted := len(set(files) - set(table["Image Index"])):
        notes.append(f"{unlisted} image file(s) not listed in {entries.name} left out")
    if set(options.views) != {"PA", "AP"}:
        view = table["View Position"].str.strip().str.upper()
        if left := int((~view.isin(options.views)).sum()):
            notes.append(f"{left} image(s) of other views than {options.views} left out")
        table = table[view.isin(options.views)]
    listed = set(table["Image Index"])
    on_disk = np.array([name in files for name in table["Image Index"]], dtype=bool)
    if absent := sorted(listed - set(files)):
        shown = ", ".join(absent[:5]) + (", …" if len(absent) > 5 else "")
        notes.append(f"{len(absent)} image(s) listed in {entries.name} not on disk: {shown}")
    table = table[on_disk]
    present = [_findings(value, entries) for value in table["Finding Labels"]]
    keep = pick_findings(NIH_FINDINGS, options.findings)
    classes = [NIH_FINDINGS[j] for j in keep]
    targets = targets_of(present, NIH_FINDINGS)[:, keep]
    split = _official_split(top, table["Image Index"], notes)
    rows = [
        {"split": s, "group": f"patient{pid.strip().zfill(5)}", "path": files[name]}
        for name, pid, s in zip(table["Image Index"], table["Patient ID"], split, strict=True)
    ]
    boxes = _boxes(top / BOXES, files, set(classes), notes) if options.boxes else None
    return make_source(
        root,
        rows,
        expected=f"the images {entries.name} lists under images_001/images/ … or images/",
        notes=notes + skipped,
        classes=classes,
        targets=targets,
        boxes=boxes,
        gray=True,
    )


def _read_entries(path: Path, *, views: bool) -> pd.DataFrame:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
    table.columns = [str(c).strip() for c in table.columns]
    needed = [*_COLUMNS, "View Position"] if views else list(_COLUMNS)
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; found {list(table.columns)[:9]}. Use the "
            "label file as downloaded (Data_Entry_2017.csv)."
        )
    table["Image Index"] = table["Image Index"].str.strip()
    return table.reset_index(drop=True)


def _findings(value: str, entries: Path) -> list[str]:
    found = [f.strip() for f in value.split("|") if f.strip() and f.strip() != NO_FINDING]
    unknown = [f for f in found if f not in NIH_FINDINGS]
    if unknown:
        raise DataError(
            f"{entries}: unknown finding(s) {unknown} in 'Finding Labels'; expected "
            f"{list(NIH_FINDINGS)} or '{NO_FINDING}'."
        )
    return found


def _image_files(top: Path, skipped: list[str]) -> dict[str, Path]:
    """Image name → file, from images/ and each images_NNN/ (or its images/ inside)."""
    folders = [top / "images"] if (top / "images").is_dir() else []
    for part in sorted(top.glob("images_*")):
        if part.is_dir() and not part.is_symlink():
            folders.append(part / "images" if (part / "images").is_dir() else part)
    files: dict[str, Path] = {}
    for folder in folders:
        for path in walk_files(folder, skipped):
            if is_image_file(path):
                files.setdefault(path.name, path)
    return files


def _official_split(top: Path, names: pd.Series, notes: list[str]) -> list[str]:
    """``test`` for the images of test_list.txt, ``""`` for the others (train and val)."""
    test_list = top / SPLIT_LISTS["test"]
    if not test_list.is_file():
        notes.append(f"no {SPLIT_LISTS['test']}: no official split, the test split is carved")
        return [""] * len(names)
    test = {line.strip() for line in test_list.read_text().splitlines() if line.strip()}
    return ["test" if name in test else "" for name in names]


def _boxes(
    path: Path, files: dict[str, Path], classes: set[str], notes: list[str]
) -> dict[str, list[Box]] | None:
    """The boxes of BBox_List_2017.csv (header ``Bbox [x,y,w,h]`` spread over four
    columns) by image file, for the findings kept."""
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = list(csvlib.reader(f))
    header = [c.strip() for c in rows[0]] if rows else []
    first = next((i for i, c in enumerate(header) if c.startswith("Bbox")), None)
    missing = [c for c in ("Image Index", "Finding Label") if c not in header]
    if missing or first is None:
        raise DataError(
            f"{path}: missing column(s) {missing or ['Bbox [x,y,w,h]']}; found {header[:6]}. "
            "Use the box list as downloaded, or set `options.boxes: false`."
        )
    name_at, label_at = header.index("Image Index"), header.index("Finding Label")
    boxes: dict[str, list[Box]] = {}
    bad = 0
    for row in rows[1:]:
        try:
            x, y, w, h = (float(v) for v in row[first : first + 4])
            name, label = row[name_at].strip(), row[label_at].strip()
        except (ValueError, IndexError):
            bad += int(any(v.strip() for v in row))
            continue
        label = _BOX_NAMES.get(label, label)
        if name in files and label in classes:
            boxes.setdefault(str(files[name]), []).append(Box(x, y, w, h, label, BOX_FRAME))
    if bad:
        notes.append(f"{bad} row(s) of {path.name} without four numbers left out")
    return boxes
