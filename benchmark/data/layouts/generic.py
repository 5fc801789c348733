"""Layouts for any dataset: in-memory phantoms, class folders, and a CSV manifest (the
last two with writers of a fake tree, in PNG or DICOM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from benchmark.data.files import is_image_file
from benchmark.data.layouts._base import (
    SPLIT_NAMES,
    LayoutOptions,
    Source,
    class_folder_rows,
    make_source,
    register,
)
from benchmark.data.layouts._labels import ObservationOptions, observations, targets_of
from benchmark.data.layouts._synth import PhantomWriter
from benchmark.data.phantoms import CLASSES, render_phantom
from benchmark.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


class SyntheticOptions(LayoutOptions):
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


@register("synthetic", options=SyntheticOptions, needs_root=False)
def synthetic(root: Path | None, options: SyntheticOptions) -> Source:
    """Brain-MRI phantoms rendered in memory, with lesion masks (no download)."""
    import pandas as pd

    n = options.per_class * len(options.classes)
    labels = [options.classes[i % len(options.classes)] for i in range(n)]
    ids = [f"phantom_{options.seed}_{i:05d}" for i in range(n)]
    records = pd.DataFrame(
        {"id": ids, "label": labels, "split": "", "group": ids, "path": "", "mask": ""}
    )

    def render(i: int) -> tuple[np.ndarray, np.ndarray]:
        p = render_phantom(
            i, seed=options.seed, size=options.size, difficulty=options.difficulty, label=labels[i]
        )
        return p.image, p.mask

    settings = options.model_dump(exclude={"labels", "per_class"})
    fingerprint = "phantom:" + json.dumps(settings, sort_keys=True)
    return Source(records, list(options.classes), render=render, fingerprint=fingerprint)


def write_imagefolder(w: PhantomWriter) -> None:
    """train/ and test/ with a folder per phantom class; two slices a patient."""
    w.expect(len(CLASSES) * w.per_class)
    for c, label in enumerate(CLASSES):
        for k in range(w.per_class):
            split = "test" if w.is_test(k) else "train"
            image, _ = w.image(k * 4 + c, label)
            path = w.out / split / label / f"{label}_{k:04d}{w.suffix or '.png'}"
            patient = f"{split}-{label[:2]}{k // 2:03d}"  # two slices a patient, in one split
            w.write(path, image, split=split, label=label, patient=patient)


@register("imagefolder", writer=write_imagefolder, formats=("png", "dcm"))
def imagefolder(root: Path, options: LayoutOptions) -> Source:
    """root/<split>/<class>/* or root/<class>/*; split folders train/val/test are kept."""
    skipped: list[str] = []
    subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if subdirs and all(p.name.lower() in SPLIT_NAMES for p in subdirs):
        rows = [
            row
            for p in subdirs
            for row in class_folder_rows(p, SPLIT_NAMES[p.name.lower()], skipped=skipped)
        ]
    else:
        rows = class_folder_rows(root, "", skipped=skipped)
    return make_source(
        root, rows, expected="root/<class>/<image> or root/<split>/<class>/<image>", notes=skipped
    )


class CsvOptions(ObservationOptions, LayoutOptions):
    manifest: str = Field(
        "manifest.csv", description="the CSV under root: path,label[,split][,group]"
    )
    label_columns: list[str] | None = Field(
        None,
        min_length=1,
        description="multi-label: one column per label (instead of `label`), each 1, 0, -1 "
        "(uncertain) or blank, as `uncertain` and `blank` say",
    )
    label_separator: str | None = Field(
        None,
        min_length=1,
        description="multi-label: the `label` column lists the labels present split by this "
        '(e.g. "|"; empty: none)',
    )

    @model_validator(mode="after")
    def _one_way(self) -> CsvOptions:
        if self.label_columns is not None and self.label_separator is not None:
            raise ValueError("give either `label_columns` or `label_separator`, not both")
        if self.label_columns is None and {"uncertain", "blank"} & self.model_fields_set:
            raise ValueError("`uncertain` and `blank` apply to `label_columns`: give them too")
        return self

    @model_serializer(mode="wrap")
    def _single_label_as_before(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the settings in use are dumped: a single-label manifest's options as before
        multi-label ones existed (they are part of a cell's configuration and its hash)."""
        data = handler(self)
        if self.label_columns is None:
            for key in ("label_columns", "uncertain", "blank"):
                data.pop(key, None)
        if self.label_separator is None:
            data.pop("label_separator", None)
        return data


def write_csv(w: PhantomWriter) -> None:
    """images/ and manifest.csv with path, label, split and group (two images a subject)."""
    import pandas as pd

    w.expect(len(CLASSES) * w.per_class)
    rows = []
    for c, label in enumerate(CLASSES):
        for k in range(w.per_class):
            split = "test" if w.is_test(k) else "train"
            image, _ = w.image(k * 4 + c, label)
            path = Path("images") / f"{label}_{k:04d}{w.suffix or '.png'}"
            group = f"subject{(k // 2):03d}_{label}"
            w.write(w.out / path, image, split=split, label=label, patient=group)
            rows.append({"path": path.as_posix(), "label": label, "split": split,
                         "group": group})  # fmt: skip
    pd.DataFrame(rows).to_csv(w.out / "manifest.csv", index=False)


@register("csv", options=CsvOptions, writer=write_csv, formats=("png", "dcm"))
def csv(root: Path, options: CsvOptions) -> Source:
    """A manifest CSV with columns path,label[,split][,group]; paths relative to it."""
    import pandas as pd

    manifest = root / options.manifest
    if not manifest.is_file():
        raise DataError(
            f"manifest {manifest} not found: the csv layout reads `options.manifest` "
            f"(default manifest.csv) under `root:`."
        )
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    table.columns = [c.strip().lower() for c in table.columns]
    columns = [c.strip().lower() for c in options.label_columns or ["label"]]
    missing = [c for c in ("path", *columns) if c not in table.columns]
    if missing:
        raise DataError(
            f"{manifest}: missing column(s) {missing}; found {list(table.columns)}. Expected "
            f"path,{','.join(columns)} and optionally split,group."
        )
    multilabel = options.label_columns is not None or options.label_separator is not None
    problems = []
    rows = []
    kept = []
    top = root.resolve()
    for line, record in enumerate(table.to_dict("records"), start=2):
        path = (manifest.parent / record["path"].strip()).resolve()
        split = record.get("split", "").strip().lower()
        if not multilabel and not record["label"].strip():
            problems.append(f"line {line}: empty label")
        elif not path.is_relative_to(top):
            problems.append(f"line {line}: {record['path']} lies outside {root}")
        elif not (path.is_file() and is_image_file(path)):
            problems.append(f"line {line}: {record['path']} is not an image file")
        elif split and split not in SPLIT_NAMES:
            problems.append(f"line {line}: split '{split}' (expected train, val, test or empty)")
        else:
            rows.append(
                {
                    "label": record.get("label", "").strip(),
                    "split": SPLIT_NAMES.get(split, ""),
                    "group": record.get("group", "").strip(),
                    "path": path,
                }
            )
            kept.append(line - 2)
    classes, targets = None, None
    if multilabel:
        classes, targets = _multilabel(table, options, problems)
        targets = targets[kept]
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise DataError(f"{manifest} has {len(problems)} bad row(s):\n  {shown}{more}")
    return make_source(top, rows, expected=f"rows in {manifest}", classes=classes, targets=targets)


def _multilabel(
    table: pd.DataFrame, options: CsvOptions, problems: list[str]
) -> tuple[list[str], np.ndarray]:
    """The labels and targets of a multi-label manifest: one column per label (1, 0, -1,
    blank), or the label column split by ``options.label_separator``."""
    if options.label_columns is not None:
        values = table[[c.strip().lower() for c in options.label_columns]]
        targets, bad = observations(values, uncertain=options.uncertain, blank=options.blank)
        problems += [f"{b} (expected 1, 0, -1 or empty)" for b in bad]
        return [c.strip() for c in options.label_columns], targets
    present = [
        {part.strip() for part in value.split(options.label_separator) if part.strip()}
        for value in table["label"]
    ]
    classes = sorted(set().union(*present))
    return classes, targets_of(present, classes)
