"""Runs a suite: every cell trained, evaluated once on its test split, and tracked.

The only module that decides what is logged. Datasets are indexed and split before any
training (bad data fails fast); images are decoded once per dataset and size and shared by
the cells that use them. A failing cell is recorded as FAILED and the others still run;
cells already FINISHED with the same config hash are skipped (resume).
"""

from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pandas as pd
import torch

from benchmark import track
from benchmark.data import (
    Batches,
    ImageSet,
    Source,
    assign_splits,
    create_augment,
    create_source,
    get_layout,
    load_images,
    parse_op,
)
from benchmark.errors import MedbenchError
from benchmark.evaluate import confusion_figure, evaluate
from benchmark.models import count_parameters, create_model, input_stats, save_model
from benchmark.strategies import apply_strategy
from benchmark.suite import Cell, Suite, expand_cells
from benchmark.train import fit, predict_proba, resolve_device

__all__ = ["CellOutcome", "NullReporter", "Reporter", "run_suite"]

Status = Literal["finished", "skipped", "failed"]


@dataclass
class CellOutcome:
    cell: Cell
    status: Status
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class Reporter(Protocol):
    """What the runner tells a display about its progress (see ``console.RichReporter``)."""

    def loading(self, what: str, done: int, total: int) -> None: ...
    def cell_started(self, cell: Cell, index: int, total: int) -> None: ...
    def batch_done(self, step: int, total: int) -> None: ...
    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def cell_done(self, outcome: CellOutcome) -> None: ...


class NullReporter:
    def loading(self, what: str, done: int, total: int) -> None: ...
    def cell_started(self, cell: Cell, index: int, total: int) -> None: ...
    def batch_done(self, step: int, total: int) -> None: ...
    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def cell_done(self, outcome: CellOutcome) -> None: ...


@dataclass
class _Dataset:
    source: Source
    split: pd.Series  # train / val / test per record
    images: dict[int, ImageSet] = field(default_factory=dict)  # by image size

    def split_table(self) -> pd.DataFrame:
        table = self.source.records.copy()
        table["split"] = self.split.values
        return table

    def indices(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split.to_numpy() == name)


def run_suite(
    suite: Suite,
    *,
    tracking_uri: str | None = None,
    device: str = "auto",
    resume: bool = True,
    reporter: Reporter | None = None,
) -> list[CellOutcome]:
    """Run every cell of ``suite``; return one outcome per cell, in grid order."""
    reporter = reporter or NullReporter()
    torch_device = resolve_device(device)
    cells = expand_cells(suite)
    datasets = {name: _index_dataset(cfg, suite.seed) for name, cfg in suite.datasets.items()}
    client = track.connect(tracking_uri)
    experiment_id = track.ensure_experiment(client, suite.name)
    track.mark_dead_runs_failed(client, experiment_id)

    outcomes = []
    for index, cell in enumerate(cells, start=1):
        reporter.cell_started(cell, index, len(cells))
        done = track.find_finished_cell(client, experiment_id, cell.config_hash) if resume else None
        if done is not None:
            outcome = CellOutcome(cell, "skipped", run_id=done)
        else:
            outcome = _run_cell(
                cell, datasets[cell.dataset], client, experiment_id, torch_device, reporter
            )
        outcomes.append(outcome)
        reporter.cell_done(outcome)
    return outcomes


def _index_dataset(cfg, seed: int) -> _Dataset:
    options = get_layout(cfg.layout).options.model_validate(cfg.options)
    source = create_source(cfg.layout, cfg.root, options)
    split = assign_splits(
        source.records,
        val_fraction=cfg.split.val_fraction,
        test_fraction=cfg.split.test_fraction,
        stratify=cfg.split.stratify,
        seed=seed,
    )
    return _Dataset(source=source, split=split)


def _images(cell: Cell, data: _Dataset, reporter: Reporter) -> ImageSet:
    size = cell.image_size
    if size not in data.images:
        data.images[size] = load_images(
            data.source,
            ops=[parse_op(op) for op in cell.data.preprocess],
            size=size,
            progress=lambda done, total: reporter.loading(cell.dataset, done, total),
        )
    return data.images[size]


def _run_cell(cell, data, client, experiment_id, device, reporter) -> CellOutcome:
    start = time.perf_counter()
    tags = {
        "medbench.suite": cell.suite,
        "medbench.cell": cell.name,
        "medbench.dataset": cell.dataset,
        "medbench.backbone": cell.backbone.name,
        "medbench.strategy": cell.strategy,
        "medbench.config_hash": cell.config_hash,
    }
    run_id = None
    try:
        with track.start_cell_run(client, experiment_id, name=cell.name, tags=tags) as run:
            run_id = run.run_id
            metrics = _train_and_evaluate(cell, data, run, device, reporter)
        return CellOutcome(cell, "finished", run_id, metrics, seconds=time.perf_counter() - start)
    except MedbenchError as exc:
        error = str(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        error = traceback.format_exc()
    return CellOutcome(cell, "failed", run_id, error=error, seconds=time.perf_counter() - start)


def _train_and_evaluate(cell: Cell, data: _Dataset, run: track.CellRun, device, reporter) -> dict:
    resolved = cell.resolved()
    run.log_params(track.flatten(resolved))
    run.log_dict(resolved, "config/suite.resolved.yaml")
    run.log_text(data.split_table().to_csv(index=False), "data/split.csv")

    images = _images(cell, data, reporter)
    torch.manual_seed(cell.seed)
    model = create_model(
        cell.backbone.name,
        num_classes=len(images.classes),
        dropout=cell.train.dropout,
        pretrained=cell.backbone.pretrained,
        weights=cell.backbone.weights,
    )
    apply_strategy(cell.strategy_kind, model, freeze=cell.strategy_config.freeze)
    counts = count_parameters(model)
    mean, std = input_stats(model)
    augment = create_augment(**cell.train.augment.model_dump()) if cell.train.augment else None

    def batches(split: str, **kwargs) -> Batches:
        return Batches(
            images.images,
            images.labels,
            indices=data.indices(split),
            mean=mean,
            std=std,
            device=device,
            **kwargs,
        )

    train = batches(
        "train", batch_size=cell.train.batch_size, shuffle=True, augment=augment, seed=cell.seed
    )
    val = batches("val", batch_size=cell.evaluate.batch_size)
    test = batches("test", batch_size=cell.evaluate.batch_size)

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        run.log_metrics(row, step=epoch)
        reporter.epoch_done(epoch, row)

    fit_start = time.perf_counter()
    history = fit(
        model, train, val, config=cell.train, on_epoch=on_epoch, on_batch=reporter.batch_done
    )
    fit_seconds = time.perf_counter() - fit_start

    # The test split is touched once, after training and model selection are over.
    probs, labels = predict_proba(model, test)
    test_ids = [images.ids[i] for i in data.indices("test")]
    result = evaluate(labels, probs, classes=images.classes, ids=test_ids)

    metrics = dict(result.metrics)
    metrics |= {f"params/{k}": v for k, v in counts.as_dict().items()}
    metrics |= {
        "time/train_s": fit_seconds,
        "time/train_img_per_s": history.images_per_second,
        "train/best_epoch": history.best_epoch,
        "train/epochs_run": len(history.epochs),
        "data/train_images": len(train.indices),
        "data/val_images": len(val.indices),
        "data/test_images": len(test.indices),
    }
    run.log_metrics(metrics)
    run.set_tags({"medbench.device": str(device), "medbench.classes": ",".join(images.classes)})
    run.log_dict(
        {"classes": images.classes, "matrix": result.confusion.tolist()},
        "eval/confusion_matrix.json",
    )
    run.log_figure(
        confusion_figure(result.confusion, images.classes, title=cell.name),
        "eval/confusion_matrix.png",
    )
    run.log_dict(result.report, "eval/classification_report.json")
    run.log_text(result.predictions.to_csv(index=False), "eval/predictions.csv")
    model_config = {
        "backbone": cell.backbone.name,
        "num_classes": len(images.classes),
        "classes": images.classes,
        "image_size": cell.image_size,
        "in_chans": 3,
        "mean": list(mean),
        "std": list(std),
        "preprocess": cell.data.preprocess,
        "dropout": cell.train.dropout,
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model.cpu(), Path(tmp), config=model_config)
        run.log_folder(Path(tmp), "model")
    return metrics
