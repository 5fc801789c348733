"""One cell, start to end: tuning (``_study``: each trial a nested run), the final training
per seed (or per episode of the label-efficiency axis, ``_episodes``), the test split touched
once, costs, CAMs, and everything logged on the cell's run."""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from benchmark import track, tune
from benchmark.data import SPLITS, ImageSet
from benchmark.devices import device_lock
from benchmark.errors import MedbenchError
from benchmark.evaluate import (
    Evaluation,
    confusion_figure,
    count_gmacs,
    environment,
    measure_latency,
    peak_memory_mb,
    reset_peak_memory,
)
from benchmark.models import input_config, rebuild_config, save_model
from benchmark.runner._calibrate import (
    calibrate,
    calibration_metrics,
    log_calibration,
    temperature_config,
)
from benchmark.runner._context import CellOutcome, Context
from benchmark.runner._corrupt import corruption_table, test_corrupted
from benchmark.runner._data import Dataset, images_for
from benchmark.runner._episodes import Episode, cell_episodes, summarise_episodes
from benchmark.runner._explain import explain, log_explanation
from benchmark.runner._external import external_copies, log_external, test_external
from benchmark.runner._fit import Trained, fit_cell, split_ids, training_cost
from benchmark.runner._study import cell_tags, study_name, tune_cell
from benchmark.suite import Cell
from benchmark.tasks import Task
from benchmark.train import compiled, release_compiled


def run_cell(
    cell: Cell,
    data: Dataset,
    *,
    context: Context,
    claim: tune.CellClaim | None = None,
    datasets: Callable[[str], Dataset] | None = None,
) -> CellOutcome:
    """Tune, train, evaluate and log one cell, under ``claim`` (the worker's hold on it);
    ``datasets`` gives the suite's other datasets by name (the cell's external ones)."""
    start = time.perf_counter()
    run_id = None
    try:
        with context.store.start_run(
            context.experiment_id, name=cell.name, kind="cell", tags=cell_tags(cell),
            system_metrics=True,
        ) as run:  # fmt: skip
            run_id = run.run_id
            if claim is not None:
                claim.note(run_id=run_id)
            metrics = _tune_train_evaluate(cell, data, run, context, claim, datasets)
        context.remove_checkpoints(cell.suite, cell.config_hash)
        context.remove_checkpoints(study_name(cell))
        return CellOutcome(cell, "finished", run_id, metrics, seconds=time.perf_counter() - start)
    except MedbenchError as exc:
        error = str(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        error = traceback.format_exc()
    finally:
        context.end_cell()
    return CellOutcome(cell, "failed", run_id, error=error, seconds=time.perf_counter() - start)


def _tune_train_evaluate(
    cell: Cell,
    data: Dataset,
    run: track.RunLog,
    context: Context,
    claim: tune.CellClaim | None,
    datasets: Callable[[str], Dataset] | None = None,
) -> dict:
    """The cell's phases: its inputs recorded, tuning on train/val, the final training of
    each seed (or episode), the test split touched once per seed after all of that (and the
    external datasets and corruptions, where the suite asks), then the results."""
    episodes = cell_episodes(cell, data)  # a label budget the data cannot meet fails here
    _log_inputs(cell, data, run, context)
    if cell.budget:  # which training images each episode drew, beside the split
        ids = data.source.records["id"].to_numpy()
        drawn = [
            pd.DataFrame({"episode": k, "seed": e.seed, "id": ids[e.train]})
            for k, e in enumerate(episodes, start=1)
            if e.train is not None
        ]
        run.log_text(pd.concat(drawn).to_csv(index=False), "data/episodes.csv")
    images = images_for(cell, data, reporter=context.reporter)
    final, refit_epochs, metrics = _tuned(cell, data, images, run, context, claim)
    per_seed, first, explanation = [], None, None
    copies = {}  # external images copying this dataset's training ones: found once, not per seed
    if final.external:
        assert datasets is not None  # the worker gives them to a cell with external data
        copies = external_copies(final, data, datasets, context=context)
    for episode in episodes:
        trained, result, scores, (probs, labels), raw = _train_and_test(
            final, data, images, run, context, episode=episode, refit_epochs=refit_epochs
        )
        external = []
        if final.external:
            assert datasets is not None
            start = time.perf_counter()
            external = test_external(
                final, trained, internal=(probs, labels), task=data.task,
                classes=images.classes, copies=copies, dataset=datasets, context=context,
                seed=episode.seed,
            )  # fmt: skip
            for tested in external:
                scores |= tested.metrics
            scores["time/external_s"] = time.perf_counter() - start
        corrupted = None
        if final.evaluate.corruptions is not None:
            corrupted = test_corrupted(
                final, trained, data, images, task=data.task, clean=(probs, labels),
                thresholds=trained.thresholds, context=context,
            )  # fmt: skip
            scores |= corrupted
        per_seed.append(scores)
        if first is None:  # the first seed's model and predictions are the artifacts
            first = (result, trained)
            log_external(run, external)
            if corrupted is not None:
                run.log_dict(corruption_table(corrupted), "eval/corruptions.json")
            if trained.temperature is not None:
                log_calibration(
                    run, labels, raw, probs, trained.temperature, scores=scores,
                    classes=images.classes, task=data.task, title=cell.name,
                )  # fmt: skip
            if cell.explain is not None:
                explanation = explain(cell, trained, images, data, probs, labels, context)
        else:  # the others' test scores beside them (paired tests, MedMNIST's evaluator)
            text = result.predictions.to_csv(index=False)
            run.log_text(text, f"eval/{episode.prefix}predictions.csv")
            for tested in external:
                text = tested.evaluation.predictions.to_csv(index=False)
                run.log_text(text, f"external/{tested.name}/{episode.prefix}predictions.csv")
        del trained, result  # a later seed's model is not held while the next one trains
    assert first is not None  # a cell has at least one seed
    if cell.budget:
        metrics |= summarise_episodes(episodes, per_seed, level=cell.evaluate.level)
    else:
        metrics |= _aggregate(per_seed, cell.seeds)
    # the thresholds (and temperatures) logged are those of the saved model (the first seed's)
    metrics |= {k: v for k, v in per_seed[0].items() if k.endswith(("threshold", "temperature"))}
    metrics |= _model_cost(first[1].model, cell, context)
    metrics |= {f"data/{split}_images": len(data.indices(split)) for split in SPLITS}
    if explanation is not None:
        metrics |= explanation.metrics
        log_explanation(run, explanation)
    metrics |= context.embeddings.metrics()
    run.log_metrics(metrics)
    run.set_tags(
        {
            track.TAG + "classes": ",".join(images.classes),
            **{track.TAG + k: v for k, v in environment(context.device).items()},
            **({track.TAG + "embed_key": ",".join(context.embeddings.keys)}
               if context.embeddings.keys else {}),
            **({track.TAG + "external": ",".join(cell.external)} if cell.external else {}),
            **({track.TAG + "corruptions": ",".join(cell.evaluate.corruptions.kinds)}
               if cell.evaluate.corruptions else {}),
        }
    )  # fmt: skip
    _log_evaluation(run, first[0], cell, images.classes, first[1].thresholds)
    _log_model(run, first[1], final, images.classes, data.task)
    return metrics


def _log_inputs(cell: Cell, data: Dataset, run: track.RunLog, context: Context) -> None:
    """The resolved settings, the split, the datasets (MLflow's inputs) and their audit."""
    resolved = cell.resolved()
    run.log_params(track.flatten(resolved))
    run.log_dict(resolved, "config/suite.resolved.yaml")
    table = data.split_table()
    run.log_text(table.to_csv(index=False), "data/split.csv")
    source, tags = data_record(cell)
    if data.source.fingerprint:  # rendered in memory: the generator's settings say what
        source["fingerprint"] = data.source.fingerprint
    run.log_datasets(name=cell.dataset, source=source, table=table)
    run.set_tags(tags)
    run.log_dict(data.report.to_dict(), "data/audit.json")
    run.log_metrics(data.audit_metrics())


def data_record(cell: Cell) -> tuple[dict[str, str], dict[str, str]]:
    """The logged dataset's source (layout, root, licence, citation, commercial use, the
    fetched tree's digest where known) and the run's tags of its licence and whether it
    may be used commercially (``yes``, ``no``, ``unknown``)."""
    from benchmark.data.fetch import about

    facts = about(cell.data.layout, cell.data.root, cell.data.options)
    source = {"layout": cell.data.layout, "root": str(cell.data.root or ""), **facts}
    tags = {track.TAG + "licence": facts["licence"], track.TAG + "commercial": facts["commercial"]}
    return source, tags


def _tuned(
    cell: Cell,
    data: Dataset,
    images: ImageSet,
    run: track.RunLog,
    context: Context,
    claim: tune.CellClaim | None,
) -> tuple[Cell, int | None, dict[str, float]]:
    """The cell with its best settings (itself without ``tune:``), the epochs of a refit on
    train+val (``None``: none) and the study's metrics."""
    if cell.tune is None:
        return cell, None, {}
    tuned = tune_cell(cell, data=data, images=images, run=run, context=context, claim=claim)
    run.log_params({f"best.{name}": value for name, value in tuned.best_params.items()})
    metrics = {
        "tune/trials": tuned.complete + tuned.pruned,
        "tune/best_value": tuned.best_value,
        "tune/best_trial": tuned.best_trial,
        "tune/trials_complete": tuned.complete,
        "tune/trials_pruned": tuned.pruned,
        "tune/trials_failed": tuned.failed,
        "tune/trials_resumed": tuned.resumed,
    }
    refit_epochs = tuned.best_epoch if cell.tune.refit == "train+val" else None
    return cell.with_params(tuned.best_params), refit_epochs, metrics


def _train_and_test(final: Cell, data, images, run: track.RunLog, context: Context, *,
                    episode: Episode, refit_epochs: int | None):  # fmt: skip
    """One seed's (or episode's) final training (its epochs logged under its prefix), its
    temperature (``evaluate.calibration``) and thresholds fitted on val, then its one pass
    over the test split: the trained model, the evaluation, the seed's scores, its test
    probabilities (calibrated) and labels, and the probabilities before calibration."""
    seed, prefix = episode.seed, episode.prefix
    context.reporter.phase(f"final training, {episode.label}", refit_epochs or final.train.epochs)

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        run.log_metrics({prefix + key: value for key, value in row.items()}, step=epoch)
        context.reporter.epoch_done(epoch, row)

    allocated = reset_peak_memory(context.device)
    fit_start = time.perf_counter()
    trained = fit_cell(
        final, data, images=images, context=context, seed=seed, on_epoch=on_epoch,
        refit_epochs=refit_epochs, train_indices=episode.train,
        checkpoint=context.checkpoint(final.suite, final.config_hash, f"seed-{seed}"),
    )  # fmt: skip
    fit_seconds = time.perf_counter() - fit_start
    memory = peak_memory_mb(context.device, since=allocated)
    task, batch_size = data.task, final.evaluate.batch_size
    thresholds, calibration = None, final.evaluate.calibration
    if task.thresholded or calibration:  # chosen and fitted on val, before test is seen
        val_probs, val_labels = trained.proba("val", data, images, context=context,
                                              batch_size=batch_size)  # fmt: skip
        if calibration:
            temperature = calibrate(val_labels, val_probs, task=task,
                                    warn=context.reporter.warning)  # fmt: skip
            trained = replace(trained, temperature=temperature)
            val_probs = trained.calibrated(val_probs, multilabel=task.multilabel)
        if task.thresholded:
            thresholds = task.thresholds(val_labels, val_probs, images.classes)
            trained = replace(trained, thresholds=thresholds)
    raw, labels = trained.proba("test", data, images, context=context, batch_size=batch_size)
    probs = trained.calibrated(raw, multilabel=task.multilabel)
    result = task.evaluate(
        labels, probs, classes=images.classes, ids=split_ids(images, data, split="test"),
        thresholds=thresholds,
    )  # fmt: skip
    scores = {**result.metrics, **training_cost(trained, fit_seconds), "memory/peak_mb": memory}
    scores |= calibration_metrics(labels, raw, probs, trained.temperature, task=task,
                                  classes=images.classes)  # fmt: skip
    if final.evaluate.bootstrap:
        start = time.perf_counter()
        scores |= task.intervals(
            labels, probs, classes=images.classes, thresholds=thresholds,
            resamples=final.evaluate.bootstrap, seed=seed, level=final.evaluate.level,
        )  # fmt: skip
        scores["time/bootstrap_s"] = time.perf_counter() - start
    return trained, result, scores, (probs, labels), raw


def _model_cost(model: torch.nn.Module, cell: Cell, context: Context) -> dict[str, float]:
    """FLOPs and model-only latency of the final model, on the device it trained on; with
    ``evaluate.latency.compile`` also of the compiled model (``latency/compiled_*``), beside
    the eager numbers, never instead of them."""
    model.to(context.device)
    out = {"flops/gmacs": count_gmacs(model, image_size=cell.image_size, device=context.device)}
    latency = cell.evaluate.latency
    if latency is None:
        return out
    context.reporter.phase("latency", 0)
    measure = partial(
        measure_latency,
        image_size=cell.image_size,
        device=context.device,
        batch_sizes=latency.batch_sizes,
        iterations=latency.iterations,
    )
    waiting = time.perf_counter()
    with device_lock(context.device, exclusive=True):  # no other worker trains here meanwhile
        out["time/latency_wait_s"] = time.perf_counter() - waiting
        out |= measure(model, warmup=latency.warmup)
        if latency.compile:
            context.reporter.phase("latency, compiled", 0)
            mode = "reduce-overhead" if context.device.type == "cuda" else None  # CUDA graphs
            try:
                timed = measure(compiled(model, mode=mode), warmup=max(latency.warmup, 3))
            finally:
                release_compiled()  # its graphs and CUDA-graph memory pools
            out |= {k.replace("latency/", "latency/compiled_", 1): v for k, v in timed.items()}
    return out


_SCORES = ("test/", "external/", "corrupt/")  # a seed's scores (the others are costs)


def _aggregate(per_seed: list[dict[str, float]], seeds: list[int]) -> dict[str, float]:
    """One seed: its metrics. Several: the mean under the plain name, ``_std`` beside it,
    and each seed's value under ``seed_<s>/``."""
    if len(per_seed) == 1:
        return dict(per_seed[0])
    table = pd.DataFrame(per_seed, index=seeds)
    out = table.mean().to_dict()
    out |= {f"{k}_std": v for k, v in table.std(ddof=1).to_dict().items() if k.startswith(_SCORES)}
    for seed, row in table.iterrows():
        out |= {f"seed_{seed}/{k}": v for k, v in row.items() if k.startswith(_SCORES)}
    out["seeds"] = len(seeds)
    return out


def _log_evaluation(run: track.RunLog, result: Evaluation, cell: Cell, classes: list[str],
                    thresholds: dict[str, float] | None) -> None:  # fmt: skip
    """The confusion matrix (one 2 × 2 per label for a multi-label task), the report, the
    predictions, the thresholds chosen on validation and what the metrics left out."""
    run.log_dict(
        {"classes": classes, "matrix": result.confusion.tolist()}, "eval/confusion_matrix.json"
    )
    if result.confusion.ndim == 2:
        figure = confusion_figure(result.confusion, classes, title=cell.name)
        run.log_figure(figure, "eval/confusion_matrix.png")
    if thresholds is not None:
        run.log_dict(thresholds, "eval/thresholds.json")
    if result.notes:
        run.set_tags({track.TAG + "eval_notes": " | ".join(result.notes)})
    run.log_dict(result.report, "eval/classification_report.json")
    run.log_text(result.predictions.to_csv(index=False), "eval/predictions.csv")


def _log_model(run: track.RunLog, trained: Trained, cell: Cell, classes: list[str],
               task: Task) -> None:  # fmt: skip
    """The model with its config.json; the input it was given (the normalisation used, the
    size, the backbone config's own size and interpolation: images are resized by medbench,
    area when shrinking, linear when not) both there and as the run's ``input.*`` params."""
    backbone = input_config(trained.model)
    given = {
        "mean": list(trained.mean),
        "std": list(trained.std),
        "size": cell.image_size,
        "pretrained_size": backbone["input_size"],
        "interpolation": backbone["interpolation"],
    }
    run.log_params(track.flatten({"input": given}))
    config = {
        **rebuild_config(trained.model, cell.backbone.name),
        "backbone": cell.backbone.name,
        "kwargs": cell.backbone.kwargs,
        "input": given,
        "num_classes": len(classes),
        "classes": classes,
        "task": task.config(),
        "thresholds": trained.thresholds,  # chosen on validation; None: the likeliest class
        "temperature": temperature_config(trained.temperature, classes, task=task),
        "head": trained.head or cell.head.model_dump(),
        "image_size": cell.image_size,
        "in_chans": 3,
        "mean": list(trained.mean),
        "std": list(trained.std),
        "preprocess": cell.data.preprocess,
        "dicom": cell.data.options.get("dicom"),  # how DICOM files were read
        "dropout": cell.train.dropout,
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_model(trained.model.cpu(), Path(tmp), config=config)
        run.log_model(Path(tmp))
