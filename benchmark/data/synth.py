"""Write synthetic phantoms to disk in a real dataset's layout, quirks included.

Each writer mirrors the archive users download: folder and file names, extensions, the
nested copies and side files, the annotation files (``Info.txt``, the CDD-CESM workbook).
The phantom classes stand in for the dataset's classes; a dataset with more classes than
phantoms tells the extra ones apart by a colour tint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from benchmark.data.dicom import write_dicom
from benchmark.data.layouts import MASK_SUFFIX
from benchmark.data.phantoms import render_phantom
from benchmark.errors import DataError

__all__ = ["SYNTH_FORMATS", "SYNTH_LAYOUTS", "write_synthetic"]

Progress = Callable[[int, int], None]
Counts = dict[str, dict[str, int]]


class _Writer:
    """Renders the ``k``-th phantom of a class and writes it, counting what was written."""

    def __init__(
        self, out: Path, size: int, seed: int, difficulty: float, total: int, progress, suffix=""
    ):
        self.out, self.size, self.seed, self.difficulty = out, size, seed, difficulty
        self.total, self.progress, self.done = total, progress, 0
        self.suffix = suffix  # the file format of layouts that have none of their own
        self.counts: Counts = {}

    def image(
        self, index: int, phantom: str, *, tint: int | None = None, height: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        p = render_phantom(
            index, seed=self.seed, size=self.size, difficulty=self.difficulty, label=phantom
        )
        image, mask = p.image, p.mask
        if height is not None and height > self.size:  # a taller scan: extra rows below
            image = cv2.copyMakeBorder(image, 0, height - self.size, 0, 0, cv2.BORDER_CONSTANT)
        if tint is not None:  # distinguishes classes that share a phantom class
            colour = np.array(_TINTS[tint % len(_TINTS)], dtype=np.float32)
            image = np.clip(image[..., None] * colour, 0, 255).astype(np.uint8)
        return image, mask

    def write(
        self, path: Path, image: np.ndarray, *, split: str, label: str, patient: str = ""
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
        if path.suffix == ".dcm":
            write_dicom(path, image, patient=patient or path.stem, instance=self.done + 1)
        elif not cv2.imwrite(str(path), bgr):
            raise DataError(f"cannot write {path}.")
        per = self.counts.setdefault(split, {})
        per[label] = per.get(label, 0) + 1
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


_TINTS = [(1.0, 1.0, 1.0), (1.0, 0.75, 0.85), (0.8, 0.9, 1.0), (1.0, 0.95, 0.7), (0.75, 1.0, 0.8)]


def _is_test(k: int, per_class: int, test_fraction: float) -> bool:
    n_test = max(1, round(per_class * test_fraction)) if per_class > 1 else 0
    return k < n_test


def _brain_tumor_mri(w: _Writer, per_class: int, test_fraction: float) -> None:
    prefix = {"glioma": "gl", "meningioma": "me", "notumor": "no", "pituitary": "pi"}
    for c, label in enumerate(prefix):
        for k in range(per_class):
            test = _is_test(k, per_class, test_fraction)
            split, tag = ("Testing", "Te") if test else ("Training", "Tr")
            number = k if test else k - max(1, round(per_class * test_fraction))
            image, mask = w.image(k * 4 + c, label)
            stem = f"{tag}-{prefix[label]}_{number:04d}"
            if test and number == 0 and label == "glioma":
                stem = "Te-glTr_0000"  # the archive's odd name: the folder, not the name, counts
            folder = w.out / split / label
            w.write(folder / f"{stem}.jpg", image, split=split, label=label)
            cv2.imwrite(str(folder / f"{stem}{MASK_SUFFIX}.png"), mask.astype(np.uint8) * 255)


def _iq_oth_nccd(w: _Writer, per_class: int, test_fraction: float) -> None:
    top = w.out / "The IQ-OTHNCCD lung cancer dataset" / "The IQ-OTHNCCD lung cancer dataset"
    phantom = {"Bengin": "meningioma", "Malignant": "glioma", "Normal": "notumor"}
    for c, (label, kind) in enumerate(phantom.items()):
        for k in range(per_class):
            tall = round(w.size * 1.22) if k % 5 == 4 else None  # some scans are 512×623
            image, _ = w.image(k * 3 + c, kind, height=tall)
            path = top / f"{label} cases" / f"{label} case ({k + 1}).jpg"
            w.write(path, image, split="all", label=label)
    (top.parent / "IQ-OTH-NCCD lung cancer dataset.txt").write_text(
        "The Iraq-Oncology Teaching Hospital/National Center for Cancer Diseases dataset.\n"
    )
    image, _ = w.image(999, "glioma")
    w.write(top / "Test cases" / "Test case (1).jpg", image, split="unlabelled", label="?")


def _sipakmed(w: _Writer, per_class: int, test_fraction: float) -> None:
    from benchmark.data.layouts.cervical import SIPAKMED_CLASSES

    kinds = ("glioma", "meningioma", "notumor", "pituitary", "glioma")
    for c, label in enumerate(SIPAKMED_CLASSES):
        folder = w.out / f"im_{label}" / f"im_{label}"
        for k in range(per_class):
            cluster, cell = divmod(k, 3)  # three cells cropped from each cluster image
            image, _ = w.image(k * 5 + c, kinds[c], tint=c)
            stem = f"{cluster + 1:03d}_{cell + 1:02d}"
            w.write(folder / "CROPPED" / f"{stem}.bmp", image, split="all", label=label)
            (folder / "CROPPED" / f"{stem}_cyt.dat").write_text("12.0,14.0\n13.0,15.5\n")
        whole, _ = w.image(10_000 + c, kinds[c], tint=c)  # the cluster image, not a sample
        cv2.imwrite(str(folder / "001.bmp"), cv2.cvtColor(whole, cv2.COLOR_RGB2BGR))


def _cdd_cesm(w: _Writer, per_class: int, test_fraction: float) -> None:
    top = w.out / "PKG - CDD-CESM" / "CDD-CESM"
    phantom = {"Normal": "notumor", "Benign": "meningioma", "Malignant": "glioma"}
    rows, patient = [], 0
    for c, (pathology, kind) in enumerate(phantom.items()):
        for k in range(per_class):
            if k % 2 == 0:
                patient += 1  # two views (CC, MLO) of one breast per patient
            view = ("CC", "MLO")[k % 2]
            side = "L" if patient % 2 else "R"
            for kind_name, folder, code in (
                ("DM", "Low energy images of CDD-CESM", "DM"),
                ("CESM", "Subtracted images of CDD-CESM", "CM"),
            ):
                name = f"P{patient}_{side}_{code}_{view}"
                spaced = " " if k % 7 == 3 else ""  # some files end in " .jpg"
                image, _ = w.image(k * 3 + c, kind)
                w.write(
                    top / folder / f"{name}{spaced}.jpg", image, split=kind_name, label=pathology
                )
                rows.append(
                    {
                        "Image_name": f"{name} " if k % 5 == 1 else name,
                        "Patient_ID": patient,
                        "Side": side,
                        "Type": kind_name,
                        "View": view,
                        "Pathology Classification/ Follow up": pathology,
                    }
                )
    with pd.ExcelWriter(top / "Radiology manual annotations.xlsx") as workbook:
        pd.DataFrame(rows).to_excel(workbook, sheet_name="all", index=False)


def _mias(w: _Writer, per_class: int, test_fraction: float) -> None:
    top = w.out / "all-mias"
    phantom = {"normal": "notumor", "benign": "meningioma", "malignant": "glioma"}
    lines = [
        "MIAS database: reference number, background tissue, class, severity, x, y, radius",
        "",
    ]
    number = 0
    for c, (label, kind) in enumerate(phantom.items()):
        for k in range(per_class):
            number += 1
            ref = f"mdb{number:03d}"
            image, _ = w.image(k * 3 + c, kind)
            w.write(top / f"{ref}.pgm", image, split="all", label=label)
            if label == "normal":
                lines.append(f"{ref} F NORM ")
            else:
                grade = "B" if label == "benign" else "M"
                lines.append(f"{ref} G CIRC {grade} 535 425 197")
                if k % 4 == 0:  # several abnormalities in one image: one row each
                    lines.append(f"{ref} G CALC {grade} 522 280 69 ")
    top.mkdir(parents=True, exist_ok=True)
    (top / "Info.txt").write_text("\n".join(lines) + "\n")


def _chest_xray(w: _Writer, per_class: int, test_fraction: float) -> None:
    top = w.out / "chest_xray"
    kinds = {"NORMAL": "notumor", "bacteria": "glioma", "virus": "meningioma"}
    for c, (kind, phantom) in enumerate(kinds.items()):
        label = "NORMAL" if kind == "NORMAL" else "PNEUMONIA"
        for k in range(per_class):
            split = "test" if _is_test(k, per_class, test_fraction) else "train"
            if k == per_class - 1 and per_class > 2:
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


def _brain_mri_yes_no(w: _Writer, per_class: int, test_fraction: float) -> None:
    suffixes = (".jpg", ".JPG", ".jpeg", ".png")
    for label, kinds in (("yes", ("glioma", "meningioma", "pituitary")), ("no", ("notumor",))):
        for k in range(per_class):
            image, _ = w.image(k * 2 + (label == "no"), kinds[k % len(kinds)])
            stem = f"Y{k + 1}" if label == "yes" else (f"no {k + 1}" if k % 2 else f"No{k + 1}")
            name = stem + suffixes[k % len(suffixes)]
            w.write(w.out / label / name, image, split="all", label=label)
            if k < 3:  # the archive's brain_tumor_dataset/ copy
                copy = w.out / "brain_tumor_dataset" / label
                copy.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(copy / name), image)


def _imagefolder(w: _Writer, per_class: int, test_fraction: float) -> None:
    for c, label in enumerate(("glioma", "meningioma", "notumor", "pituitary")):
        for k in range(per_class):
            split = "test" if _is_test(k, per_class, test_fraction) else "train"
            image, _ = w.image(k * 4 + c, label)
            path = w.out / split / label / f"{label}_{k:04d}{w.suffix or '.png'}"
            patient = f"{split}-{label[:2]}{k // 2:03d}"  # two slices a patient, in one split
            w.write(path, image, split=split, label=label, patient=patient)


def _csv(w: _Writer, per_class: int, test_fraction: float) -> None:
    rows = []
    for c, label in enumerate(("glioma", "meningioma", "notumor", "pituitary")):
        for k in range(per_class):
            split = "test" if _is_test(k, per_class, test_fraction) else "train"
            image, _ = w.image(k * 4 + c, label)
            path = Path("images") / f"{label}_{k:04d}{w.suffix or '.png'}"
            group = f"subject{(k // 2):03d}_{label}"
            w.write(w.out / path, image, split=split, label=label, patient=group)
            rows.append({"path": path.as_posix(), "label": label, "split": split,
                         "group": group})  # fmt: skip
    pd.DataFrame(rows).to_csv(w.out / "manifest.csv", index=False)


_WRITERS = {
    "brain-tumor-mri": (_brain_tumor_mri, 4),
    "iq-oth-nccd": (_iq_oth_nccd, 3),
    "sipakmed": (_sipakmed, 5),
    "cdd-cesm": (_cdd_cesm, 6),
    "mias": (_mias, 3),
    "chest-xray-pneumonia": (_chest_xray, 3),
    "brain-mri-yes-no": (_brain_mri_yes_no, 2),
    "imagefolder": (_imagefolder, 4),
    "csv": (_csv, 4),
}
SYNTH_LAYOUTS = tuple(_WRITERS)
SYNTH_FORMATS = {"png": ".png", "dcm": ".dcm"}  # for the layouts without a format of their own
_ANY_FORMAT = ("imagefolder", "csv")


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
    of images written per split (or folder kind) and class.

    ``brain-tumor-mri`` also writes each lesion mask beside its image as
    ``<stem>_mask.png``. Splits follow the dataset: official folders where it has them
    (``test_fraction`` of each class in the test folder), none where it has none.
    ``format`` (``png`` or ``dcm``, for ``imagefolder`` and ``csv``) is the file format:
    ``dcm`` writes 12-bit DICOM slices, two per synthetic patient (its Patient ID).
    """
    if layout not in _WRITERS:
        raise DataError(
            f"cannot synthesise layout '{layout}': expected one of {list(SYNTH_LAYOUTS)}."
        )
    if format is not None and (format not in SYNTH_FORMATS or layout not in _ANY_FORMAT):
        raise DataError(
            f"format '{format}' for layout '{layout}': expected one of {list(SYNTH_FORMATS)} "
            f"with a layout of {list(_ANY_FORMAT)} (the others write their dataset's own)."
        )
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists and is not empty: choose a new folder.")
    writer, classes = _WRITERS[layout]
    total = per_class * classes * (2 if layout == "cdd-cesm" else 1)
    w = _Writer(out, size, seed, difficulty, total, progress, SYNTH_FORMATS.get(format or "", ""))
    writer(w, per_class, test_fraction)
    return w.counts
