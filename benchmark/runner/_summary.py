"""Analyses across the cells of a suite, on its ``summary`` run."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from benchmark import track
from benchmark.errors import DataError, MedbenchError
from benchmark.evaluate import error_overlap, overlap_figure, paired_auroc_tests, paired_tests
from benchmark.runner._context import Context
from benchmark.suite import Suite
from benchmark.tasks import Task, get_task


def summarise_suite(suite: Suite, context: Context) -> None:
    """Suite-level analyses over the latest finished cells, per dataset, on the suite's
    ``summary`` run: paired tests between its cells (Holm) and which cells are not
    significantly worse than the best, and (one class per image) the error overlap. The
    tasks decided at a threshold are compared by AUROC (their ``paired_test``: DeLong's
    for a binary label, a paired bootstrap of the macro AUROC for several), the others by
    accuracy (McNemar's test). A dataset whose test split cannot be compared so (a class
    missing) is said in a warning; the others go on."""
    runs = context.store.cell_runs(suite.name)
    by_dataset = runs.groupby(track.tag_column("dataset")) if not runs.empty else []
    groups = [(dataset, group) for dataset, group in by_dataset if len(group) >= 2]
    corruptions = suite.evaluate.corruptions
    if corruptions is not None and corruptions.reference is not None and not runs.empty:
        _relative_errors(runs, corruptions.reference, context)
    if not groups:  # nothing to compare
        return
    with context.store.start_summary_run(context.experiment_id, suite=suite.name) as run:
        for dataset, group in groups:
            config = suite.datasets.get(str(dataset))
            task = get_task(config.task.kind if config is not None else "multiclass")
            where = f"analysis/{dataset}"
            correct = _compare(run, group, task, suite=suite, context=context, folder=where,
                               what=f"dataset '{dataset}'")  # fmt: skip
            for name in suite.evaluate.external or {}:
                tested = _tested_on(group, name)  # cells run before it was added are not
                if len(tested) >= 2:
                    external = get_task(suite.datasets[name].task.kind)
                    _compare(run, tested, external, suite=suite, context=context,
                             folder=f"analysis/{dataset}/external/{name}",
                             what=f"dataset '{dataset}' tested on '{name}'",
                             prefix=f"external/{name}/")  # fmt: skip
            if correct is None or task.multilabel:
                continue  # "wrong" has no single meaning with several labels per image
            folder = f"analysis/{dataset}"
            per_image, counts = error_overlap(correct)
            run.log_text(per_image.to_csv(index=False), f"{folder}/error_overlap.csv")
            run.log_dict(counts, f"{folder}/error_overlap_counts.json")
            run.log_figure(
                overlap_figure(counts, n_models=correct.shape[1], title=dataset),
                f"{folder}/error_overlap.png",
            )
            run.log_metrics({f"{dataset}/{k}": v for k, v in counts.items()})


def _compare(run: track.RunLog, group: pd.DataFrame, task: type[Task], *, suite: Suite,
             context: Context, folder: str, what: str,
             prefix: str = "test/") -> pd.DataFrame | None:  # fmt: skip
    """Paired tests between the cells of ``group`` on the images they were all tested on
    (the test split, or with ``prefix`` an external dataset's), logged under ``folder``:
    Holm-adjusted p-values and which cells are not significantly worse than the best.
    Returns whether each cell decided each image right (``None`` where no test could be
    made, said in a warning)."""
    artifact = "eval/predictions.csv" if prefix == "test/" else f"{prefix}predictions.csv"
    cells = list(group[track.tag_column("cell")])
    predictions = {
        cell: pd.read_csv(
            io.StringIO(context.store.artifact_text(run_id, artifact)),
            dtype={"id": str, "true": str, "pred": str, "missing": str},
            keep_default_na=False,  # class names such as "0", "1" or "NA" stay text
        ).set_index("id")
        for cell, run_id in zip(cells, group["run_id"], strict=True)
    }
    common = sorted(set.intersection(*(set(p.index) for p in predictions.values())))
    predictions = {cell: p.loc[common] for cell, p in predictions.items()}
    metric = task.ranking if task.thresholded else "test/accuracy"
    correct = pd.DataFrame(
        {cell: p["true"] == p["pred"] for cell, p in predictions.items()}
    )  # whether each cell decided each test image's class (or labels) right
    if task.thresholded:
        try:
            matrix = _auroc_tests(predictions, multilabel=task.multilabel, seed=suite.seed)
        except DataError as exc:
            context.reporter.warning(f"{what}: no paired tests ({exc})")
            return None
        run.log_text(matrix.to_csv(), f"{folder}/auroc_holm_p.csv")
    else:
        matrix = paired_tests(correct)
        run.log_text(matrix.to_csv(), f"{folder}/mcnemar_holm_p.csv")
    key = prefix + metric.removeprefix("test/")
    column = track.metric_column(key)
    values = group[column] if column in group else [float("nan")] * len(cells)
    scores = dict(zip(cells, values, strict=True))
    best = max(scores, key=lambda cell: np.nan_to_num(scores[cell], nan=-np.inf))
    name = metric.removeprefix("test/")
    alpha = suite.evaluate.alpha
    verdicts = {
        cell: {
            name: scores[cell],
            "p_vs_best": float(matrix.loc[best, cell]),
            "not_worse_than_best": cell == best or float(matrix.loc[best, cell]) >= alpha,
        }
        for cell in matrix.columns
    }
    run.log_dict(
        {"best": best, "alpha": alpha, "metric": key, "test": task.paired_test,
         "images": len(common), "cells": verdicts},
        f"{folder}/paired_tests.json",
    )  # fmt: skip
    return correct


def _tested_on(group: pd.DataFrame, name: str) -> pd.DataFrame:
    """The cells of ``group`` tested on external dataset ``name``."""
    column = track.tag_column("external")
    if column not in group:
        return group.iloc[:0]
    return group[group[column].fillna("").map(lambda text: name in text.split(","))]


def _relative_errors(runs: pd.DataFrame, reference: str, context: Context) -> None:
    """MedMNIST-C's BE and rBE of every cell with corruption results, against the
    ``reference`` backbone/strategy's cell of the same dataset (and label budget), written
    onto each cell's run (``corrupt/be``, ``corrupt/rbe``, and per kind). A cell whose
    reference has not run is said in a warning."""
    from benchmark.evaluate import relative_errors, undefined_kinds

    kinds = sorted(
        c.split("/")[1] for c in runs.columns
        if c.startswith("metrics.corrupt/") and c.endswith("/balanced_error") and c.count("/") == 2
    )  # fmt: skip
    if not kinds:
        return
    by_name = {row[track.tag_column("cell")]: row for _, row in runs.iterrows()}

    def errors(row: pd.Series) -> tuple[dict[str, float], float]:
        found = {k: row.get(f"metrics.corrupt/{k}/balanced_error") for k in kinds}
        return ({k: float(v) for k, v in found.items() if v is not None and not pd.isna(v)},
                float(row.get("metrics.corrupt/clean_balanced_error", np.nan)))  # fmt: skip

    for name, row in by_name.items():
        mine, clean = errors(row)
        if not mine:
            continue
        base = "/".join(str(row[track.tag_column(t)]) for t in ("dataset", "backbone", "strategy"))
        wanted = f"{row[track.tag_column('dataset')]}/{reference}{name[len(base) :]}"
        if wanted not in by_name:
            context.reporter.warning(
                f"cell {name}: no BE or rBE, its reference cell {wanted} has no finished run"
            )
            continue
        theirs, their_clean = errors(by_name[wanted])
        try:
            relative = relative_errors(mine, clean, theirs, their_clean)
        except MedbenchError as exc:
            context.reporter.warning(f"cell {name}: no BE or rBE ({exc})")
            continue
        if undefined := undefined_kinds(relative):
            context.reporter.warning(
                f"cell {name}: no rBE under {', '.join(undefined)} (the reference cell's "
                "balanced error does not grow there); its means are over the other kinds"
            )
        defined = {key: value for key, value in relative.items() if not np.isnan(value)}
        context.store.run_log(row["run_id"]).log_metrics(defined)


def _auroc_tests(predictions: dict[str, pd.DataFrame], *, multilabel: bool,
                 seed: int) -> pd.DataFrame:  # fmt: skip
    """Holm-adjusted p-values of equal AUROC between every two cells, from their test
    predictions (the labels read from ``true`` and ``missing``, the scores from ``p_*``)."""
    first = next(iter(predictions.values()))
    columns = [c for c in first.columns if c.startswith("p_")]
    names = [c.removeprefix("p_") for c in columns]
    if not multilabel:  # binary: the positive class is the second (``classes[1]``)
        targets = (first["true"] == names[1]).to_numpy(float)
        scores = {cell: p[columns[1]].to_numpy() for cell, p in predictions.items()}
    else:
        targets = np.stack([_has(first["true"], n) for n in names], axis=1).astype(float)
        targets[np.stack([_has(first["missing"], n) for n in names], axis=1)] = np.nan
        scores = {cell: p[columns].to_numpy() for cell, p in predictions.items()}
    return paired_auroc_tests(targets, scores, seed=seed)


def _has(joined: pd.Series, name: str) -> np.ndarray:
    """Whether ``name`` is among each row's ``|``-joined labels."""
    return joined.map(lambda text: name in text.split("|")).to_numpy()  # read as text
