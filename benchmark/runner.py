"""Runs a suite: every cell tuned, trained, evaluated once on its test split, and tracked.

The only module that decides what is logged. Datasets are indexed and split before any
training (bad data fails fast); images are decoded once per dataset and size and shared by
the cells that use them. Per cell: an Optuna study on train/val (each trial a nested MLflow
run), then the final training with the best settings (once per seed), then the test split,
touched once. A failing cell is recorded as FAILED and the others still run; cells already
FINISHED with the same config hash are skipped; an interrupted study resumes.
"""

from __future__ import annotations

import io
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from benchmark import track, tune
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
from benchmark.evaluate import (
    Evaluation,
    bootstrap_intervals,
    confusion_figure,
    count_gmacs,
    environment,
    error_overlap,
    evaluate,
    measure_latency,
    overlap_figure,
    paired_tests,
    peak_memory_mb,
    reset_peak_memory,
)
from benchmark.explain import explain_cell
from benchmark.models import count_parameters, create_model, input_stats, save_model
from benchmark.strategies import get_strategy
from benchmark.suite import Cell, Suite, expand_cells
from benchmark.train import History, fit, predict_proba, resolve_device

__all__ = ["CellOutcome", "Reporter", "run_suite"]

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
class _Dataset:
    source: Source
    split: pd.Series  # train / val / test per record
    images: dict[int, ImageSet] = field(default_factory=dict)  # by image size

    def split_table(self) -> pd.DataFrame:
        table = self.source.records.copy()
        table["split"] = self.split.values
        return table

    def indices(self, *names: str) -> np.ndarray:
        return np.flatnonzero(self.split.isin(names).to_numpy())


@dataclass(frozen=True)
class _Trained:
    model: torch.nn.Module
    history: History
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass
class _Context:
    client: object
    experiment_id: str
    storage: str | None
    device: torch.device
    reporter: Reporter


def run_suite(
    suite: Suite,
    *,
    tracking_uri: str | None = None,
    storage: str | None = None,
    device: str = "auto",
    resume: bool = True,
    reporter: Reporter | None = None,
) -> list[CellOutcome]:
    """Run every cell of ``suite``; return one outcome per cell, in grid order."""
    reporter = reporter or Reporter()
    torch_device = resolve_device(device)
    cells = expand_cells(suite)
    datasets = {name: _index_dataset(cfg, suite.seed) for name, cfg in suite.datasets.items()}
    client = track.connect(tracking_uri)
    experiment_id = track.ensure_experiment(client, suite.name)
    track.mark_dead_runs_failed(client, experiment_id)
    context = _Context(client, experiment_id, storage, torch_device, reporter)

    outcomes = []
    for index, cell in enumerate(cells, start=1):
        reporter.cell_started(cell, index, len(cells))
        done = track.find_finished_cell(client, experiment_id, cell.config_hash) if resume else None
        if done is not None:
            outcome = CellOutcome(cell, "skipped", run_id=done)
        else:
            outcome = _run_cell(cell, datasets[cell.dataset], context)
        outcomes.append(outcome)
        reporter.cell_done(outcome)
    _summarise_suite(suite, context)
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


def _tags(cell: Cell) -> dict[str, str]:
    return {
        "medbench.suite": cell.suite,
        "medbench.cell": cell.name,
        "medbench.dataset": cell.dataset,
        "medbench.backbone": cell.backbone.name,
        "medbench.strategy": cell.strategy,
        "medbench.config_hash": cell.config_hash,
    }


def _run_cell(cell: Cell, data: _Dataset, context: _Context) -> CellOutcome:
    start = time.perf_counter()
    run_id = None
    try:
        with track.start_run(
            context.client, context.experiment_id, name=cell.name, kind="cell", tags=_tags(cell)
        ) as run:
            run_id = run.run_id
            metrics = _tune_train_evaluate(cell, data, run, context)
        return CellOutcome(cell, "finished", run_id, metrics, seconds=time.perf_counter() - start)
    except MedbenchError as exc:
        error = str(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        error = traceback.format_exc()
    return CellOutcome(cell, "failed", run_id, error=error, seconds=time.perf_counter() - start)


def _tune_train_evaluate(cell: Cell, data: _Dataset, run: track.RunLog, context: _Context) -> dict:
    resolved = cell.resolved()
    run.log_params(track.flatten(resolved))
    run.log_dict(resolved, "config/suite.resolved.yaml")
    run.log_text(data.split_table().to_csv(index=False), "data/split.csv")
    images = _images(cell, data, context.reporter)

    metrics: dict[str, float] = {}
    final, refit_epochs = cell, None
    if cell.tune is not None:
        tuned = _tune(cell, data, images, run, context)
        run.log_params({f"best.{name}": value for name, value in tuned.best_params.items()})
        metrics |= {
            "tune/trials": tuned.complete + tuned.pruned,
            "tune/best_value": tuned.best_value,
            "tune/best_trial": tuned.best_trial,
            "tune/trials_complete": tuned.complete,
            "tune/trials_pruned": tuned.pruned,
            "tune/trials_failed": tuned.failed,
            "tune/trials_resumed": tuned.resumed,
        }
        final = cell.with_params(tuned.best_params)
        if cell.tune.refit == "train+val":
            refit_epochs = tuned.best_epoch

    # The test split is touched once per seed, after tuning and training are over. The first
    # seed's model and predictions are the artifacts; every seed's scores are aggregated.
    per_seed, first, explanation = [], None, None
    for k, seed in enumerate(cell.seeds):
        prefix = "" if k == 0 else f"seed_{seed}/"
        context.reporter.phase(f"final training, seed {seed}", refit_epochs or final.train.epochs)

        def on_epoch(epoch: int, row: dict[str, float], prefix: str = prefix) -> None:
            run.log_metrics({prefix + key: value for key, value in row.items()}, step=epoch)
            context.reporter.epoch_done(epoch, row)

        reset_peak_memory(context.device)
        fit_start = time.perf_counter()
        trained = _fit(
            final, data, images, context, seed=seed, on_epoch=on_epoch, refit_epochs=refit_epochs
        )
        fit_seconds = time.perf_counter() - fit_start
        memory = peak_memory_mb(context.device)
        test = Batches(
            images.images,
            images.labels,
            indices=data.indices("test"),
            batch_size=cell.evaluate.batch_size,
            mean=trained.mean,
            std=trained.std,
            device=context.device,
        )
        probs, labels = predict_proba(trained.model, test)
        result = evaluate(labels, probs, classes=images.classes, ids=_ids(images, data, "test"))
        scores = {**result.metrics, **_cost(trained, fit_seconds), "memory/peak_mb": memory}
        if cell.evaluate.bootstrap:
            start = time.perf_counter()
            scores |= bootstrap_intervals(
                labels,
                probs,
                resamples=cell.evaluate.bootstrap,
                seed=seed,
                level=cell.evaluate.level,
            )
            scores["time/bootstrap_s"] = time.perf_counter() - start
        per_seed.append(scores)
        if first is None:
            first = (result, trained)
            if cell.explain is not None:
                explanation = _explain(cell, trained, images, data, probs, labels, test, context)

    metrics |= _aggregate(per_seed, cell.seeds)
    metrics |= _model_cost(first[1].model, cell, context)
    if explanation is not None:
        metrics |= explanation.metrics
        for path, figure in explanation.figures.items():
            run.log_figure(figure, path)
        for path, array in explanation.arrays.items():
            run.log_array(array, path)
        if explanation.warnings:
            run.set_tags({"medbench.explain_warnings": " | ".join(explanation.warnings)})
    metrics |= {
        "data/train_images": len(data.indices("train")),
        "data/val_images": len(data.indices("val")),
        "data/test_images": len(data.indices("test")),
    }
    run.log_metrics(metrics)
    run.set_tags(
        {
            "medbench.device": str(context.device),
            "medbench.classes": ",".join(images.classes),
            **{f"medbench.{k}": v for k, v in environment(context.device).items()},
        }
    )
    _log_evaluation(run, first[0], cell, images.classes)
    _log_model(run, first[1], final, images.classes)
    return metrics


def _tune(cell: Cell, data: _Dataset, images: ImageSet, run: track.RunLog, context: _Context):
    tune_cfg = cell.tune
    strategy = get_strategy(cell.strategy_kind)
    space = {k: v for k, v in tune_cfg.space.items() if k != "freeze" or strategy.tunes_freeze}
    study = f"{cell.suite}.{cell.study_key}"
    track.adopt_trial_runs(
        context.client, context.experiment_id, study=study, parent_run_id=run.run_id
    )

    def objective(trial: tune.TrialContext) -> tuple[float, int]:
        trial_cell = cell.with_params(trial.params)
        context.reporter.phase(
            f"trial {trial.number + 1} of {tune_cfg.trials}", trial_cell.train.epochs
        )
        tags = {**_tags(cell), "medbench.trial": str(trial.number), "medbench.study": study}
        pruned = None
        with track.start_run(
            context.client,
            context.experiment_id,
            name=f"{cell.name}/trial-{trial.number}",
            kind="trial",
            tags=tags,
            parent_run_id=run.run_id,
        ) as trial_run:
            trial_run.log_params(trial.params)

            def on_epoch(epoch: int, row: dict[str, float]) -> None:
                trial_run.log_metrics(row, step=epoch)
                context.reporter.epoch_done(epoch, row)
                trial.report(epoch, row[tune_cfg.objective])

            try:
                history = _fit(
                    trial_cell, data, images, context, seed=cell.seed, on_epoch=on_epoch
                ).history
            except tune.Pruned as exc:
                pruned = exc
                trial_run.set_tags({"medbench.trial_state": "PRUNED"})
            except BaseException:
                trial_run.set_tags({"medbench.trial_state": "FAIL"})
                raise
            else:
                trial_run.set_tags({"medbench.trial_state": "COMPLETE"})
                trial_run.log_metrics(
                    {"trial/value": history.best_score, "trial/best_epoch": history.best_epoch}
                )
        if pruned is not None:
            raise pruned
        return history.best_score, history.best_epoch

    return tune.run_study(
        name=study,
        storage=context.storage,
        space=space,
        trials=tune_cfg.trials,
        maximize=tune_cfg.objective != "val/loss",
        seed=cell.seed,
        pruner=tune_cfg.pruner,
        epochs=cell.train.epochs,
        objective=objective,
    )


def _fit(
    cell: Cell,
    data: _Dataset,
    images: ImageSet,
    context: _Context,
    *,
    seed: int,
    on_epoch,
    refit_epochs: int | None = None,
) -> _Trained:
    """Build the cell's model, apply its strategy and train it; validation only from val.

    With ``refit_epochs`` the model trains on train+val for that many epochs, without
    validation (the tuned epoch count replaces early stopping).
    """
    strategy = get_strategy(cell.strategy_kind)
    torch.manual_seed(seed)
    model = create_model(
        cell.backbone.name,
        num_classes=len(images.classes),
        dropout=cell.train.dropout,
        pretrained=cell.backbone.pretrained and strategy.pretrained,
        weights=cell.backbone.weights if strategy.pretrained else None,
        head=cell.head.model_dump(),
    )
    mean, std = input_stats(model)
    augment = create_augment(**cell.train.augment.model_dump()) if cell.train.augment else None
    train_idx = data.indices("train", "val") if refit_epochs else data.indices("train")

    def batches(indices, **kwargs) -> Batches:
        return Batches(
            images.images, images.labels, indices=indices, mean=mean, std=std,
            device=context.device, **kwargs,
        )  # fmt: skip

    train = batches(
        train_idx, batch_size=cell.train.batch_size, shuffle=True, augment=augment, seed=seed
    )
    val = (
        None if refit_epochs else batches(data.indices("val"), batch_size=cell.evaluate.batch_size)
    )
    config = cell.train
    if refit_epochs:
        config = config.model_copy(update={"epochs": refit_epochs, "early_stopping": None})
    if strategy.pretrain is not None:
        epochs = cell.strategy_config.encoder_epochs or cell.train.epochs
        context.reporter.phase(f"{strategy.name} stage 1", epochs)
        views = 2 if augment is not None else 1
        stage = batches(
            train_idx,
            batch_size=cell.train.batch_size,
            shuffle=True,
            augment=augment,
            views=views,
            seed=seed,
        )
        strategy.pretrain(model, stage, cell.strategy_config, cell.train)
        context.reporter.phase(f"{strategy.name} stage 2", config.epochs)
    strategy.prepare(model, cell.strategy_config)
    counts = np.bincount(images.labels[train_idx].numpy(), minlength=len(images.classes))
    criterion = strategy.criterion(
        cell.strategy_config, counts=counts.tolist(), classes=images.classes
    )
    history = fit(
        model,
        train,
        val,
        config=config,
        criterion=criterion,
        on_epoch=on_epoch,
        on_batch=context.reporter.batch_done,
    )
    return _Trained(model, history, mean, std)


def _ids(images: ImageSet, data: _Dataset, split: str) -> list[str]:
    return [images.ids[i] for i in data.indices(split)]


def _cost(trained: _Trained, fit_seconds: float) -> dict[str, float]:
    counts, history = count_parameters(trained.model), trained.history
    return {
        **{f"params/{k}": v for k, v in counts.as_dict().items()},
        "time/train_s": fit_seconds,
        "time/epoch_s": float(np.mean([row["time/epoch_s"] for row in history.epochs])),
        "time/train_img_per_s": history.images_per_second,
        "train/best_epoch": history.best_epoch,
        "train/epochs_run": len(history.epochs),
    }


def _explain(cell, trained, images, data, probs, labels, test, context):
    """CAM galleries and quality on the test split (after its scores are final)."""
    context.reporter.phase("class-activation maps", 0)
    indices = data.indices("test")
    return explain_cell(
        trained.model,
        inputs=torch.cat([x for x, _ in test]).cpu(),
        images=images.images[indices],
        labels=labels,
        probs=probs,
        masks=images.masks[indices] if images.masks is not None else None,
        classes=images.classes,
        config=cell.explain,
        title=cell.name,
        seed=cell.seed,
    )


def _model_cost(model: torch.nn.Module, cell: Cell, context: _Context) -> dict[str, float]:
    """FLOPs and model-only latency of the final model, on the device it trained on."""
    model.to(context.device)
    out = {"flops/gmacs": count_gmacs(model, image_size=cell.image_size, device=context.device)}
    latency = cell.evaluate.latency
    if latency is not None:
        context.reporter.phase("latency", 0)
        out |= measure_latency(
            model,
            image_size=cell.image_size,
            device=context.device,
            batch_sizes=latency.batch_sizes,
            warmup=latency.warmup,
            iterations=latency.iterations,
        )
    return out


def _summarise_suite(suite: Suite, context: _Context) -> None:
    """Suite-level analyses over the latest finished cells: paired McNemar tests (Holm) and
    error overlap, per dataset, on the suite's ``summary`` run."""
    runs = track.load_cell_runs(context.client, suite.name)
    by_dataset = runs.groupby("tags.medbench.dataset") if not runs.empty else []
    groups = [(dataset, group) for dataset, group in by_dataset if len(group) >= 2]
    if not groups:  # nothing to compare
        return
    alpha = suite.evaluate.alpha
    with track.start_summary_run(context.client, context.experiment_id, suite=suite.name) as run:
        for dataset, group in groups:
            correct = {}
            for _, row in group.iterrows():
                text = track.load_text(context.client, row["run_id"], "eval/predictions.csv")
                predictions = pd.read_csv(io.StringIO(text))
                correct[row["tags.medbench.cell"]] = pd.Series(
                    (predictions["true"] == predictions["pred"]).to_numpy(), index=predictions["id"]
                )
            table = pd.DataFrame(correct).dropna()  # images every cell was tested on
            matrix = paired_tests(table)
            accuracy = dict(
                zip(group["tags.medbench.cell"], group["metrics.test/accuracy"], strict=True)
            )
            best = max(accuracy, key=accuracy.get)
            verdicts = {
                cell: {
                    "accuracy": accuracy[cell],
                    "p_vs_best": float(matrix.loc[best, cell]),
                    "not_worse_than_best": cell == best or float(matrix.loc[best, cell]) >= alpha,
                }
                for cell in matrix.columns
            }
            per_image, counts = error_overlap(table)
            folder = f"analysis/{dataset}"
            run.log_text(matrix.to_csv(), f"{folder}/mcnemar_holm_p.csv")
            run.log_dict(
                {"best": best, "alpha": alpha, "test": "McNemar, Holm-adjusted",
                 "images": len(table), "cells": verdicts},
                f"{folder}/paired_tests.json",
            )  # fmt: skip
            run.log_text(per_image.to_csv(index=False), f"{folder}/error_overlap.csv")
            run.log_dict(counts, f"{folder}/error_overlap_counts.json")
            run.log_figure(
                overlap_figure(counts, n_models=table.shape[1], title=dataset),
                f"{folder}/error_overlap.png",
            )
            run.log_metrics({f"{dataset}/{k}": v for k, v in counts.items()})


def _aggregate(per_seed: list[dict[str, float]], seeds: list[int]) -> dict[str, float]:
    """One seed: its metrics. Several: the mean under the plain name, ``_std`` beside it,
    and each seed's value under ``seed_<s>/``."""
    if len(per_seed) == 1:
        return dict(per_seed[0])
    table = pd.DataFrame(per_seed, index=seeds)
    out = table.mean().to_dict()
    out |= {f"{k}_std": v for k, v in table.std(ddof=1).to_dict().items() if k.startswith("test/")}
    for seed, row in table.iterrows():
        out |= {f"seed_{seed}/{k}": v for k, v in row.items() if k.startswith("test/")}
    out["seeds"] = len(seeds)
    return out


def _log_evaluation(run: track.RunLog, result: Evaluation, cell: Cell, classes: list[str]) -> None:
    run.log_dict(
        {"classes": classes, "matrix": result.confusion.tolist()}, "eval/confusion_matrix.json"
    )
    run.log_figure(
        confusion_figure(result.confusion, classes, title=cell.name), "eval/confusion_matrix.png"
    )
    run.log_dict(result.report, "eval/classification_report.json")
    run.log_text(result.predictions.to_csv(index=False), "eval/predictions.csv")


def _log_model(run: track.RunLog, trained: _Trained, cell: Cell, classes: list[str]) -> None:
    config = {
        "backbone": cell.backbone.name,
        "num_classes": len(classes),
        "classes": classes,
        "head": cell.head.model_dump(),
        "image_size": cell.image_size,
        "in_chans": 3,
        "mean": list(trained.mean),
        "std": list(trained.std),
        "preprocess": cell.data.preprocess,
        "dropout": cell.train.dropout,
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_model(trained.model.cpu(), Path(tmp), config=config)
        run.log_folder(Path(tmp), "model")
