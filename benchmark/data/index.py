"""One dataset of a suite, indexed: its readable images, their split and content hashes, and
its integrity audit, known before any run is created (``medbench run``, ``medbench data
audit``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from benchmark.data.audit import (
    AuditReport,
    Progress,
    audit,
    duplicate_pairs,
    link_groups,
    scan,
)
from benchmark.data.cache import ImageCache
from benchmark.data.layouts import Source, create_source, get_layout
from benchmark.data.splits import assign_splits
from benchmark.errors import DataError
from benchmark.suite._schema import AuditConfig, DatasetConfig
from benchmark.tasks import Task, create_task

__all__ = ["IndexedDataset", "index_dataset"]


@dataclass(frozen=True)
class IndexedDataset:
    source: Source  # readable images only
    split: pd.Series  # train / val / test per record (or "dropped": a test leak left out)
    keys: list[str]  # content hash per record (the cache key)
    report: AuditReport
    task: Task = field(default_factory=create_task)  # the source's classes in its order

    def split_table(self) -> pd.DataFrame:
        """One row per image: id, label, official split, group, assigned split, sha256."""
        table = self.source.records.drop(columns=["path", "mask"])
        table["split"] = self.split.to_numpy()
        table["sha256"] = self.keys
        return table

    def audit_metrics(self) -> dict[str, float]:
        """The audit's counts as ``data/...`` metrics, with the test leaks dropped."""
        counts = self.report.counts()
        return {f"data/{k}": float(v) for k, v in counts.items() if k != "images"} | {
            "data/dropped_leaks": float((self.split == "dropped").sum())
        }

    def indices(self, *names: str) -> np.ndarray:
        """Positions of the images in the splits ``names``."""
        return np.flatnonzero(self.split.isin(names).to_numpy())


def index_dataset(
    name: str,
    config: DatasetConfig,
    *,
    seed: int,
    policy: AuditConfig,
    cache: ImageCache | None = None,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
    task_from_source: bool = False,
) -> IndexedDataset:
    """Index, scan, split and audit dataset ``name``, before any run is created.

    Unreadable files are left out (and reported); duplicates join their groups so a random
    split keeps them together; test images that still leak (official splits) are warned
    about, dropped from the test split, or fail the run, as ``policy.on_leak`` says.
    ``progress(done, total)`` follows the scan; ``warn`` hears what was left out.
    The dataset's task is checked against what the layout found before anything is read
    (one class an image or several; a binary task's two classes), and orders its classes;
    with ``task_from_source`` (a folder audited without a suite) the task is the one the
    dataset says (its layout's ``task``), else multi-label where the layout gives several
    labels an image.
    """
    warn = warn or (lambda message: None)
    options = get_layout(config.layout).options.model_validate(config.options)
    source = create_source(config.layout, config.root, options=options)
    task = create_task(config.task.model_dump())
    if task_from_source:
        spec = get_layout(config.layout)
        own = spec.task(config.root, options) if spec.task is not None else None
        if own is not None:  # the dataset says its task (MedMNIST's INFO)
            task = create_task(own)
        elif source.multilabel:
            task = create_task("multilabel")
    source = _fit_task(source, task, where=f"datasets.{name}.task")
    facts = scan(source, cache=cache, progress=progress)
    bad = facts["error"].notna().to_numpy()
    bad_files = [
        {"path": source.records.at[i, "path"] or source.records.at[i, "id"], "reason": reason}
        for i, reason in zip(np.flatnonzero(bad), facts["error"][bad], strict=True)
    ]
    if bad.all():
        raise DataError(
            f"dataset '{name}': none of its {len(bad)} images can be read (first: "
            f"{bad_files[0]['path']}: {bad_files[0]['reason']})."
        )
    if bad.any():
        warn(
            f"dataset '{name}': {int(bad.sum())} unreadable file(s) left out, e.g. "
            f"{bad_files[0]['path']} ({bad_files[0]['reason']})"
        )
        source, facts = source.subset(~bad), facts[~bad].reset_index(drop=True)
    pairs = duplicate_pairs(facts, near_distance=policy.near_distance)
    records = source.records
    linked = link_groups(records, pairs)  # each image's group joined with its duplicates
    split = assign_splits(
        records,
        val_fraction=config.split.val_fraction,
        test_fraction=config.split.test_fraction,
        stratify=config.split.stratify,
        seed=seed,
        groups=linked if config.split.groups else None,
        official=config.split.official,
        official_val=config.split.official_val,
        folds=config.split.folds,
        fold=config.split.fold,
        targets=source.targets,
    )
    report = audit(
        records,
        split,
        facts=facts,
        pairs=pairs,
        bad_files=bad_files,
        notes=source.notes,
        groups=linked,
        targets=source.targets,
        classes=source.classes,
    )
    if report.test_leaks:
        message = (
            f"dataset '{name}': {len(report.test_leaks)} test image(s) duplicate or share a "
            f"group with training/validation images (e.g. {report.test_leaks[0]}); "
            "`medbench data audit` lists them"
        )
        if policy.on_leak == "fail":
            raise DataError(f"{message}. Set `audit.on_leak: drop` to test without them.")
        if policy.on_leak == "drop":
            split = split.where(~records["id"].isin(report.test_leaks), "dropped")
            message += "; dropped from the test split"
        warn(message)
    _check_val(source, split, task, name=name, warn=warn)
    return IndexedDataset(source, split, list(facts["sha256"]), report, task)


def _fit_task(source: Source, task: Task, *, where: str) -> Source:
    """``source`` with its classes in ``task``'s order, or a ``DataError`` saying why the
    task does not fit what the layout found."""
    if source.multilabel != task.multilabel:
        found = "several labels per image" if source.multilabel else "one class per image"
        fix = (
            "set `task: multilabel`."
            if source.multilabel
            else "use `task: multiclass`, `binary` or `ordinal`, or a multi-label layout."
        )
        raise DataError(f"{where}: '{task.name}' does not fit the dataset, whose layout "
                        f"gives {found}: {fix}")  # fmt: skip
    return replace(source, classes=task.classes(source.classes, where=where))


def _check_val(source: Source, split: pd.Series, task: Task, *, name: str,
               warn: Callable[[str], None]) -> None:  # fmt: skip
    """A task that decides at thresholds chosen on the validation split needs both answers
    there: a binary task's two classes (else a ``DataError``), each label's presence and
    absence (else a warning: that label keeps 0.5)."""
    if not task.thresholded:
        return
    val = (split == "val").to_numpy()
    if not task.multilabel:
        missing = sorted(set(source.classes) - set(source.records["label"][val]))
        if missing:
            raise DataError(
                f"dataset '{name}': the val split has no image of {missing}, so the binary "
                "task's threshold cannot be chosen on it: raise `split.val_fraction`, or keep "
                "`split.stratify: true`."
            )
        return
    targets = source.targets[val] if source.targets is not None else np.zeros((0, 0))
    seen = ~np.isnan(targets)
    both = [(targets[seen[:, k], k] == 1).any() and (targets[seen[:, k], k] == 0).any()
            for k in range(targets.shape[1])]  # fmt: skip
    lacking = [label for label, ok in zip(source.classes, both, strict=True) if not ok]
    if lacking:
        warn(
            f"dataset '{name}': {lacking} lack positive or negative images in the val split: "
            "their thresholds stay at 0.5 and they do not count in val/auroc_macro"
        )
