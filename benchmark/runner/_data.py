"""The datasets of a suite run: indexed, audited, split, decoded once per image size."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from benchmark.data import (
    AuditReport,
    ImageCache,
    ImageSet,
    Source,
    assign_splits,
    audit,
    create_source,
    duplicate_pairs,
    get_layout,
    link_groups,
    load_images,
    parse_op,
    place_images,
    scan,
)
from benchmark.errors import DataError
from benchmark.runner._context import Reporter
from benchmark.suite import Cell
from benchmark.suite._schema import AuditConfig, DatasetConfig


@dataclass
class Dataset:
    source: Source  # readable images only
    split: pd.Series  # train / val / test per record (or "dropped": a test leak left out)
    keys: list[str]  # content hash per record (the cache key)
    report: AuditReport
    cache: ImageCache | None = None
    images: dict[int, ImageSet] = field(default_factory=dict)  # by image size
    placed: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)  # on a device

    def split_table(self) -> pd.DataFrame:
        table = self.source.records.drop(columns=["path", "mask"])
        table["split"] = self.split.to_numpy()
        table["sha256"] = self.keys
        return table

    def audit_metrics(self) -> dict[str, float]:
        counts = self.report.counts()
        return {f"data/{k}": float(v) for k, v in counts.items() if k != "images"} | {
            "data/dropped_leaks": float((self.split == "dropped").sum())
        }

    def indices(self, *names: str) -> np.ndarray:
        return np.flatnonzero(self.split.isin(names).to_numpy())


def index_dataset(
    name: str,
    cfg: DatasetConfig,
    seed: int,
    policy: AuditConfig,
    reporter: Reporter | None = None,
    cache: ImageCache | None = None,
) -> Dataset:
    """Index, scan, split and audit one dataset, before any run is created.

    Unreadable files are left out (and reported); duplicates join their groups so a random
    split keeps them together; test images that still leak (official splits) are warned
    about, dropped from the test split, or fail the run, as ``policy.on_leak`` says.
    """
    reporter = reporter or Reporter()
    options = get_layout(cfg.layout).options.model_validate(cfg.options)
    source = create_source(cfg.layout, cfg.root, options)
    facts = scan(
        source,
        cache=cache,
        progress=lambda done, total: reporter.loading(f"checking {name}", done, total),
    )
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
        reporter.warning(
            f"dataset '{name}': {int(bad.sum())} unreadable file(s) left out, e.g. "
            f"{bad_files[0]['path']} ({bad_files[0]['reason']})"
        )
        source, facts = source.subset(~bad), facts[~bad].reset_index(drop=True)
    pairs = duplicate_pairs(facts, near_distance=policy.near_distance)
    records = source.records
    linked = link_groups(records, pairs)  # each image's group joined with its duplicates
    split = assign_splits(
        records,
        val_fraction=cfg.split.val_fraction,
        test_fraction=cfg.split.test_fraction,
        stratify=cfg.split.stratify,
        seed=seed,
        groups=linked if cfg.split.groups else None,
        official=cfg.split.official,
        official_val=cfg.split.official_val,
        folds=cfg.split.folds,
        fold=cfg.split.fold,
    )
    report = audit(
        records, split, facts, pairs, bad_files=bad_files, notes=source.notes, groups=linked
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
        reporter.warning(message)
    return Dataset(source, split, list(facts["sha256"]), report, cache)


def placed_images(images: ImageSet, data: Dataset, device: torch.device) -> torch.Tensor:
    """``images`` on the training device if they fit its budget (else in host memory),
    placed once and kept for the next cell of the same size (the last placement only)."""
    key = (id(images.images), str(device))
    if key not in data.placed:
        data.placed.clear()
        data.placed[key] = place_images(images.images, device)
    return data.placed[key]


def images_for(cell: Cell, data: Dataset, reporter: Reporter) -> ImageSet:
    size = cell.image_size
    if size not in data.images:
        data.images[size] = load_images(
            data.source,
            ops=[parse_op(op) for op in cell.data.preprocess],
            size=size,
            progress=lambda done, total: reporter.loading(f"decoding {cell.dataset}", done, total),
            cache=data.cache,
            keys=data.keys,
        )
    return data.images[size]
