"""What the parts of a suite run share: outcomes, the progress reporter, the datasets
(indexed, split, decoded once per image size), and the tracking context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from benchmark.data import (
    ImageSet,
    Source,
    assign_splits,
    create_source,
    get_layout,
    load_images,
    parse_op,
)
from benchmark.suite import Cell

Status = Literal["finished", "skipped", "failed"]


@dataclass
class CellOutcome:
    cell: Cell
    status: Status
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class Reporter:
    """What the runner tells a display about its progress; this base shows nothing
    (``console.RichReporter`` draws it)."""

    def loading(self, what: str, done: int, total: int) -> None: ...
    def cell_started(self, cell: Cell, index: int, total: int) -> None: ...
    def phase(self, description: str, epochs: int) -> None: ...
    def batch_done(self, step: int, total: int) -> None: ...
    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def cell_done(self, outcome: CellOutcome) -> None: ...


@dataclass
class Dataset:
    source: Source
    split: pd.Series  # train / val / test per record
    images: dict[int, ImageSet] = field(default_factory=dict)  # by image size

    def split_table(self) -> pd.DataFrame:
        table = self.source.records.copy()
        table["split"] = self.split.values
        return table

    def indices(self, *names: str) -> np.ndarray:
        return np.flatnonzero(self.split.isin(names).to_numpy())


@dataclass
class Context:
    client: object
    experiment_id: str
    storage: str | None
    device: torch.device
    reporter: Reporter


def index_dataset(cfg, seed: int) -> Dataset:
    options = get_layout(cfg.layout).options.model_validate(cfg.options)
    source = create_source(cfg.layout, cfg.root, options)
    split = assign_splits(
        source.records,
        val_fraction=cfg.split.val_fraction,
        test_fraction=cfg.split.test_fraction,
        stratify=cfg.split.stratify,
        seed=seed,
    )
    return Dataset(source=source, split=split)


def images_for(cell: Cell, data: Dataset, reporter: Reporter) -> ImageSet:
    size = cell.image_size
    if size not in data.images:
        data.images[size] = load_images(
            data.source,
            ops=[parse_op(op) for op in cell.data.preprocess],
            size=size,
            progress=lambda done, total: reporter.loading(cell.dataset, done, total),
        )
    return data.images[size]
