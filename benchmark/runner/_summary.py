"""Analyses across the cells of a suite, on its ``summary`` run."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from benchmark import track
from benchmark.errors import DataError
from benchmark.evaluate import error_overlap, overlap_figure, paired_auroc_tests, paired_tests
from benchmark.runner._context import Context
from benchmark.suite import Suite
from benchmark.tasks import get_task


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
    if not groups:  # nothing to compare
        return
    alpha = suite.evaluate.alpha
    with context.store.start_summary_run(context.experiment_id, suite=suite.name) as run:
        for dataset, group in groups:
            config = suite.datasets.get(str(dataset))
            task = get_task(config.task.kind if config is not None else "multiclass")
            cells = list(group[track.tag_column("cell")])
            predictions = {
                cell: pd.read_csv(
                    io.StringIO(context.store.artifact_text(run_id, "eval/predictions.csv")),
                    dtype={"id": str, "true": str, "pred": str, "missing": str},
                    keep_default_na=False,  # class names such as "0", "1" or "NA" stay text
                ).set_index("id")
                for cell, run_id in zip(cells, group["run_id"], strict=True)
            }
            common = sorted(set.intersection(*(set(p.index) for p in predictions.values())))
            predictions = {cell: p.loc[common] for cell, p in predictions.items()}
            metric = task.ranking if task.thresholded else "test/accuracy"
            folder = f"analysis/{dataset}"
            correct = pd.DataFrame(
                {cell: p["true"] == p["pred"] for cell, p in predictions.items()}
            )  # whether each cell decided each test image's class (or labels) right
            if task.thresholded:
                try:
                    matrix = _auroc_tests(predictions, multilabel=task.multilabel, seed=suite.seed)
                except DataError as exc:
                    context.reporter.warning(f"dataset '{dataset}': no paired tests ({exc})")
                    continue
                run.log_text(matrix.to_csv(), f"{folder}/auroc_holm_p.csv")
            else:
                matrix = paired_tests(correct)
                run.log_text(matrix.to_csv(), f"{folder}/mcnemar_holm_p.csv")
            scores = dict(zip(cells, group[track.metric_column(metric)], strict=True))
            best = max(scores, key=scores.__getitem__)
            name = metric.removeprefix("test/")
            verdicts = {
                cell: {
                    name: scores[cell],
                    "p_vs_best": float(matrix.loc[best, cell]),
                    "not_worse_than_best": cell == best or float(matrix.loc[best, cell]) >= alpha,
                }
                for cell in matrix.columns
            }
            run.log_dict(
                {"best": best, "alpha": alpha, "metric": metric, "test": task.paired_test,
                 "images": len(common), "cells": verdicts},
                f"{folder}/paired_tests.json",
            )  # fmt: skip
            if task.multilabel:
                continue  # "wrong" has no single meaning with several labels per image
            per_image, counts = error_overlap(correct)
            run.log_text(per_image.to_csv(index=False), f"{folder}/error_overlap.csv")
            run.log_dict(counts, f"{folder}/error_overlap_counts.json")
            run.log_figure(
                overlap_figure(counts, n_models=correct.shape[1], title=dataset),
                f"{folder}/error_overlap.png",
            )
            run.log_metrics({f"{dataset}/{k}": v for k, v in counts.items()})


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
