"""CheXpert (Stanford): fourteen observations per chest X-ray, some uncertain (``-1.0``) or
blank, read as downloaded (the small or the full-size folder); the writer of a fake tree,
then the reader."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from benchmark.data.layouts._base import (
    LayoutOptions,
    Source,
    find_folder,
    make_source,
    not_found,
    register,
)
from benchmark.data.layouts._labels import ObservationOptions, observations, pick_findings
from benchmark.data.layouts._synth import PhantomWriter
from benchmark.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

CHEXPERT_OBSERVATIONS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)  # fmt: skip
COMPETITION = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
FOLDERS = ("CheXpert-v1.0-small", "CheXpert-v1.0")  # the small download, the full-size one
CSVS = {"train.csv": "", "valid.csv": "test"}  # valid.csv is the test split (the official
# test set is not public); validation is carved from train by patient
_PATIENT = re.compile(r"(patient\d+)")
_VIEW = "Frontal/Lateral"


class ChexpertOptions(ObservationOptions, LayoutOptions):
    findings: list[str] | Literal["competition"] | None = Field(
        None,
        description="keep these observations as the labels (default: all 14), or "
        f"`competition`: the five of the CheXpert competition {list(COMPETITION)}",
    )
    views: Literal["frontal", "lateral", "all"] = Field(
        "frontal", description="keep frontal views, lateral views, or all"
    )

    @field_validator("findings")
    @classmethod
    def _known_findings(
        cls, value: list[str] | Literal["competition"] | None
    ) -> list[str] | Literal["competition"] | None:
        if isinstance(value, list):
            pick_findings(CHEXPERT_OBSERVATIONS, value)
        return value


def write_chexpert(w: PhantomWriter) -> None:
    """CheXpert-v1.0-small/ with train.csv and valid.csv (Path relative to the folder
    above), train/ and valid/ patientNNNNN/studyN/viewN_frontal.jpg, some lateral views,
    uncertain (-1.0) and blank observations in train, only 1.0 and 0.0 in valid."""
    top = w.out / FOLDERS[0]
    labels = len(CHEXPERT_OBSERVATIONS)
    support = CHEXPERT_OBSERVATIONS.index("Support Devices")
    base = w.per_class * (labels - 1)  # each finding in turn, then per_class with none
    n = base + w.per_class
    lateral = [k for k in range(n) if k % 4 == 3]
    w.expect(n + len(lateral), labels=CHEXPERT_OBSERVATIONS)
    header = ["Path", "Sex", "Age", _VIEW, "AP/PA", *CHEXPERT_OBSERVATIONS]
    rows: dict[str, list[list[str]]] = {"train.csv": [], "valid.csv": []}
    for k in range(n):
        p = k // 2  # two studies a patient
        first = 2 * p  # a patient's split follows its first image's turn
        valid = w.is_test(first // (labels - 1) if first < base else first - base)
        folder, patient = ("valid", 64541 + p) if valid else ("train", p + 1)
        present: set[int] = set()
        if k < base:
            present = {1 + k % (labels - 1)}
            if k % 3 == 1:
                present.add(1 + (k * 5 + 2) % (labels - 1))
        if not present - {support}:
            present.add(0)  # No Finding
        values = []
        for j in range(labels):
            if j in present:
                values.append("1.0")
            elif valid or j == (k + 1) % labels:
                values.append("0.0")
            elif j == (k + 3) % labels and k % 4 == 0:
                values.append("-1.0")  # uncertain: missing by default
            else:
                values.append("")  # blank: negative by default
        found = [CHEXPERT_OBSERVATIONS[j] for j in sorted(present)]
        split = "test" if valid else ""
        study = f"{folder}/patient{patient:05d}/study{k % 2 + 1}"
        sex, age = ("Female", "Male")[k % 2], str(20 + k % 60)
        views: list[tuple[str, str, str, list[str] | None, int]] = [
            ("view1_frontal.jpg", "Frontal", "AP" if k % 3 else "PA", found, k)
        ]
        if k in lateral:
            views.append(("view2_lateral.jpg", "Lateral", "", None, k + 100_000))
        for name, view, projection, label, index in views:
            path = f"{study}/{name}"
            w.write(top / path, w.chest(index, present, labels=labels), label=label, split=split)
            rows["valid.csv" if valid else "train.csv"].append(
                [f"{FOLDERS[0]}/{path}", sex, age, view, projection, *values]
            )
    absent = f"{FOLDERS[0]}/train/patient{n + 1:05d}/study1/view1_frontal.jpg"
    rows["train.csv"].append([absent, "Male", "50", "Frontal", "PA", *["1.0"] * labels])
    import pandas as pd

    for file, table in rows.items():
        pd.DataFrame(table, columns=header).to_csv(top / file, index=False)


@register("chexpert", options=ChexpertOptions, writer=write_chexpert)
def chexpert(root: Path, options: ChexpertOptions) -> Source:
    """CheXpert: CheXpert-v1.0-small/train.csv + valid.csv (14 observations; multi-label)."""
    top = find_folder(root, lambda p: any((p / name).is_file() for name in CSVS), depth=2)
    if top is None:
        raise not_found(
            root, "chexpert", expected=f"{FOLDERS[0]}/ (or {FOLDERS[1]}/) with train.csv, valid.csv"
        )
    keep = COMPETITION if options.findings == "competition" else options.findings
    wanted = [CHEXPERT_OBSERVATIONS[j] for j in pick_findings(CHEXPERT_OBSERVATIONS, keep)]
    notes: list[str] = []
    rows: list[dict] = []
    parts = []
    for file, split in CSVS.items():
        if not (top / file).is_file():
            notes.append(f"no {file} in {top}")
            continue
        table, targets = _read(top / file, wanted, options)
        if options.views != "all":
            view = table[_VIEW].str.strip().str.lower()
            keep = (view == options.views).to_numpy()
            if left := int((~keep).sum()):
                notes.append(
                    f"{file}: {left} image(s) of other views than {options.views} left out"
                )
            table, targets = table[keep], targets[keep]
        paths = [_locate(str(top), value) for value in table["Path"]]
        on_disk = np.array([p is not None and os.path.isfile(p) for p in paths], dtype=bool)
        if absent := [v for v, ok in zip(table["Path"], on_disk, strict=True) if not ok]:
            shown = ", ".join(absent[:3]) + (", …" if len(absent) > 3 else "")
            notes.append(f"{len(absent)} image(s) listed in {file} not on disk: {shown}")
        for value, path in zip(
            table["Path"][on_disk], np.array(paths, dtype=object)[on_disk], strict=True
        ):
            patient = _PATIENT.search(value)
            rows.append(
                {"split": split, "group": patient.group(1) if patient else "", "path": path}
            )
        parts.append(targets[on_disk])
    targets = np.concatenate(parts) if parts else np.zeros((0, len(wanted)), np.float32)
    return make_source(
        root,
        rows,
        expected="the images train.csv and valid.csv list",
        notes=notes,
        classes=wanted,
        targets=targets,
    )


def _read(
    path: Path, wanted: list[str], options: ChexpertOptions
) -> tuple[pd.DataFrame, np.ndarray]:
    """The CSV's rows and the targets of the ``wanted`` observations under the options'
    policies; a missing column or a value that is not 1.0, 0.0, -1.0 or blank is an error."""
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
    table.columns = [str(c).strip() for c in table.columns]
    needed = ["Path", *wanted] + ([_VIEW] if options.views != "all" else [])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; found {list(table.columns)}. Use the CSV as "
            "downloaded, or keep only the observations it has (`options.findings`)."
        )
    targets, bad = observations(table[wanted], uncertain=options.uncertain, blank=options.blank)
    if bad:
        raise DataError(
            f"{path}: values that are not 1.0, 0.0, -1.0 or blank: {'; '.join(bad[:5])}."
        )
    return table, targets


def _locate(top: str, value: str) -> str | None:
    """A ``Path`` value (relative to the folder above the dataset's, e.g.
    ``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``) → the file under
    ``top``, whatever that folder is called; None for a path that would leave it. (Strings,
    not Paths: a quarter of a million rows.)"""
    parts = PurePosixPath(value.strip().replace("\\", "/")).parts
    if parts and parts[0] not in ("train", "valid", "test"):
        parts = parts[1:]
    if not parts or ".." in parts or parts[0] == "/":
        return None
    return os.path.join(top, *parts)
