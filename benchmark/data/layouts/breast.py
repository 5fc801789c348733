"""Mammography datasets, CDD-CESM (TCIA) and MIAS: each layout's writer of a fake tree,
then its reader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    find_folder,
    image_files,
    make_source,
    not_found,
    register,
)
from benchmark.data.layouts._synth import PhantomWriter
from benchmark.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

_CDD_FOLDERS = {
    "low_energy": "Low energy images of CDD-CESM",
    "subtracted": "Subtracted images of CDD-CESM",
}
_CDD_TYPES = {"low_energy": "DM", "subtracted": "CESM"}
_CDD_ANNOTATIONS = "Radiology manual annotations.xlsx"
_SEVERITY = {"normal": 0, "benign": 1, "malignant": 2}


class CddCesmOptions(LayoutOptions):
    images: Literal["low_energy", "subtracted"] = Field(
        "low_energy", description="low-energy (DM-like) or subtracted (contrast) images"
    )
    task: Literal["normal-vs-cancer", "three-class"] = Field(
        "normal-vs-cancer",
        description="normal vs malignant (benign left out), or Normal/Benign/Malignant",
    )
    annotations: str | None = Field(
        None, description=f"annotation workbook under root (default: find '{_CDD_ANNOTATIONS}')"
    )


def _key(name: str) -> str:
    """Image names in the sheet and on disk differ by stray spaces (``P2_L_DM_CC .jpg``)."""
    return re.sub(r"\s+", "", Path(name).stem if name.lower().endswith(".jpg") else name)


def write_cdd_cesm(w: PhantomWriter) -> None:
    """Low-energy (DM) and subtracted (CESM) images of two views per breast, some names
    ending in " .jpg", and the annotation workbook (sheet ``all``, stray spaces in names)."""
    import pandas as pd

    top = w.out / "PKG - CDD-CESM" / "CDD-CESM"
    phantom = {"Normal": "notumor", "Benign": "meningioma", "Malignant": "glioma"}
    # What the reader finds with its default options: low-energy images, normal vs cancer.
    found = {"Normal": "normal", "Malignant": "cancer"}
    w.expect(2 * len(phantom) * w.per_class)
    rows, patient = [], 0
    for c, (pathology, kind) in enumerate(phantom.items()):
        for k in range(w.per_class):
            if k % 2 == 0:
                patient += 1  # two views (CC, MLO) of one breast per patient
            view = ("CC", "MLO")[k % 2]
            side = "L" if patient % 2 else "R"
            image, _ = w.image(k * 3 + c, kind)
            for image_type, folder, code in (
                ("DM", _CDD_FOLDERS["low_energy"], "DM"),
                ("CESM", _CDD_FOLDERS["subtracted"], "CM"),
            ):
                name = f"P{patient}_{side}_{code}_{view}"
                spaced = " " if k % 7 == 3 else ""  # some files end in " .jpg"
                label = found.get(pathology) if image_type == "DM" else None
                w.write(top / folder / f"{name}{spaced}.jpg", image, label=label)
                rows.append(
                    {
                        "Image_name": f"{name} " if k % 5 == 1 else name,
                        "Patient_ID": patient,
                        "Side": side,
                        "Type": image_type,
                        "View": view,
                        "Pathology Classification/ Follow up": pathology,
                    }
                )
    with pd.ExcelWriter(top / _CDD_ANNOTATIONS) as workbook:
        pd.DataFrame(rows).to_excel(workbook, sheet_name="all", index=False)


@register("cdd-cesm", options=CddCesmOptions, writer=write_cdd_cesm)
def cdd_cesm(root: Path, options: CddCesmOptions) -> Source:
    """CDD-CESM contrast mammography (TCIA): images + Radiology manual annotations.xlsx."""
    folder_name = _CDD_FOLDERS[options.images]
    top = find_folder(root, lambda p: (p / folder_name).is_dir())
    if top is None:
        raise not_found(root, "cdd-cesm", expected=f"'{folder_name}/' (under CDD-CESM/)")
    if options.annotations is not None:
        workbook = root / options.annotations
    else:
        workbook = next(
            (
                p / _CDD_ANNOTATIONS
                for p in (top, *top.parents)
                if (p / _CDD_ANNOTATIONS).is_file() and p.is_relative_to(root)
            ),
            root / _CDD_ANNOTATIONS,
        )
    if not workbook.is_file():
        raise DataError(
            f"cdd-cesm: the annotation workbook {workbook} was not found; it comes with the "
            "TCIA download (set `options.annotations` if it lies elsewhere under root)."
        )
    sheet = _read_sheet(workbook)
    if "type" in sheet:  # rows of the other image kind describe the other folder
        sheet = sheet[sheet["type"].str.strip().str.upper() == _CDD_TYPES[options.images]]
    skipped: list[str] = []
    files = {_key(p.name): p for p in image_files(top / folder_name, skipped)}
    rows, unmatched = [], 0
    per_image = sheet.groupby("key", sort=True)
    dropped = 0
    for key, entries in per_image:
        if key not in files:
            unmatched += 1
            continue
        worst = max(entries["pathology"], key=lambda v: _SEVERITY[v])
        if options.task == "normal-vs-cancer":
            if worst == "benign":
                dropped += 1
                continue
            label = "normal" if worst == "normal" else "cancer"
        else:
            label = worst.capitalize()
        rows.append({"label": label, "group": entries["patient"].iat[0], "path": files[key]})
    notes = list(skipped)
    if dropped:
        notes.append(f"{dropped} benign image(s) left out of the normal-vs-cancer task")
    if unmatched:
        notes.append(f"{unmatched} annotated image(s) missing from {folder_name}")
    missing = sorted(set(files) - set(sheet["key"]))
    if missing:
        notes.append(f"{len(missing)} image(s) without annotation left out (e.g. {missing[0]})")
    return make_source(root, rows, expected=f"{folder_name}/*.jpg", notes=notes)


def _read_sheet(workbook: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        sheets = pd.read_excel(workbook, sheet_name=None, dtype=str)
    except Exception as exc:  # openpyxl raises several types for a damaged workbook
        raise DataError(f"cannot read {workbook}: {exc}") from None
    sheet = sheets.get("all")
    if sheet is None:
        raise DataError(f"{workbook} has no sheet 'all' (found sheets {list(sheets)}).")
    columns = {re.sub(r"[\s_]+", "", str(c)).lower(): c for c in sheet.columns}
    wanted = {
        "key": "imagename",
        "patient": "patientid",
        "pathology": next((c for c in columns if c.startswith("pathology")), "pathology"),
    }
    missing = [name for name in wanted.values() if name not in columns]
    if missing:
        raise DataError(
            f"{workbook} (sheet 'all') lacks the columns {missing}; found {list(sheet.columns)}."
        )
    table = pd.DataFrame({k: sheet[columns[v]] for k, v in wanted.items()}).dropna()
    if "type" in columns:
        table["type"] = sheet[columns["type"]].fillna("")
    table["key"] = table["key"].map(_key)
    table["patient"] = "P" + table["patient"].str.strip().str.removeprefix("P")
    table["pathology"] = table["pathology"].str.strip().str.lower()
    unknown = sorted(set(table["pathology"]) - set(_SEVERITY))
    if unknown:
        raise DataError(
            f"{workbook}: unknown pathology values {unknown}; expected Normal, Benign, Malignant."
        )
    return table


class MiasOptions(LayoutOptions):
    task: Literal["three-class", "abnormal-vs-normal"] = Field(
        "three-class", description="normal/benign/malignant, or abnormal vs normal"
    )


_MIAS_ROW = re.compile(r"^(mdb\d{3})\s+(\S+)\s+(\S+)(?:\s+([BM]))?", re.IGNORECASE)


def write_mias(w: PhantomWriter) -> None:
    """all-mias/mdbNNN.pgm and Info.txt between description lines, one row per
    abnormality (several for some images)."""
    top = w.out / "all-mias"
    phantom = {"normal": "notumor", "benign": "meningioma", "malignant": "glioma"}
    w.expect(len(phantom) * w.per_class)
    lines = [
        "MIAS database: reference number, background tissue, class, severity, x, y, radius",
        "",
    ]
    number = 0
    for c, (label, kind) in enumerate(phantom.items()):
        for k in range(w.per_class):
            number += 1
            ref = f"mdb{number:03d}"
            image, _ = w.image(k * 3 + c, kind)
            w.write(top / f"{ref}.pgm", image, label=label)
            if label == "normal":
                lines.append(f"{ref} F NORM ")
            else:
                grade = "B" if label == "benign" else "M"
                lines.append(f"{ref} G CIRC {grade} 535 425 197")
                if k % 4 == 0:  # several abnormalities in one image: one row each
                    lines.append(f"{ref} G CALC {grade} 522 280 69 ")
    top.mkdir(parents=True, exist_ok=True)
    (top / "Info.txt").write_text("\n".join(lines) + "\n")


@register("mias", options=MiasOptions, writer=write_mias)
def mias(root: Path, options: MiasOptions) -> Source:
    """mini-MIAS mammograms: all-mias/mdbNNN.pgm + Info.txt; patient = left/right pair."""
    top = find_folder(root, lambda p: _info_file(p) is not None)
    info = _info_file(top) if top is not None else None
    if top is None or info is None:
        raise not_found(root, "mias", expected="all-mias/ with mdb001.pgm … and Info.txt")
    severity: dict[str, str] = {}
    for line in info.read_text(errors="replace").splitlines():
        match = _MIAS_ROW.match(line.strip())
        if match is None:
            continue  # the description lines around the table
        ref, _, abnormality, grade = match.groups()
        kind = (
            "normal"
            if abnormality.upper() == "NORM"
            else _MIAS_GRADE.get((grade or "").upper(), "")
        )
        if not kind:
            continue
        previous = severity.get(ref.lower(), "normal")
        severity[ref.lower()] = max(previous, kind, key=lambda v: _SEVERITY[v])
    skipped: list[str] = []
    rows, unlabelled = [], 0
    for path in image_files(top, skipped):
        ref = path.stem.lower()
        if ref not in severity:
            unlabelled += 1
            continue
        kind = severity[ref]
        label = (
            kind
            if options.task == "three-class"
            else ("normal" if kind == "normal" else "abnormal")
        )
        number = int(ref.removeprefix("mdb"))
        rows.append({"label": label, "group": f"patient{(number + 1) // 2:03d}", "path": path})
    notes = list(skipped)
    if unlabelled:
        notes.append(f"{unlabelled} image(s) not listed in Info.txt left out")
    return make_source(root, rows, expected="mdbNNN.pgm listed in Info.txt", notes=notes)


_MIAS_GRADE = {"B": "benign", "M": "malignant"}


def _info_file(folder: Path) -> Path | None:
    return next((p for p in folder.iterdir() if p.is_file() and p.name.lower() == "info.txt"), None)
