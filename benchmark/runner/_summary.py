"""Analyses across the cells of a suite, on its ``summary`` run."""

from __future__ import annotations

import io

import pandas as pd

from benchmark import track
from benchmark.evaluate import error_overlap, overlap_figure, paired_tests
from benchmark.runner._context import Context
from benchmark.suite import Suite


def summarise_suite(suite: Suite, context: Context) -> None:
    """Suite-level analyses over the latest finished cells: paired McNemar tests (Holm) and
    error overlap, per dataset, on the suite's ``summary`` run."""
    runs = context.store.cell_runs(suite.name)
    by_dataset = runs.groupby(track.tag_column("dataset")) if not runs.empty else []
    groups = [(dataset, group) for dataset, group in by_dataset if len(group) >= 2]
    if not groups:  # nothing to compare
        return
    alpha = suite.evaluate.alpha
    with context.store.start_summary_run(context.experiment_id, suite=suite.name) as run:
        for dataset, group in groups:
            correct = {}
            for _, row in group.iterrows():
                text = context.store.artifact_text(row["run_id"], "eval/predictions.csv")
                predictions = pd.read_csv(io.StringIO(text))
                correct[row[track.tag_column("cell")]] = pd.Series(
                    (predictions["true"] == predictions["pred"]).to_numpy(), index=predictions["id"]
                )
            table = pd.DataFrame(correct).dropna()  # images every cell was tested on
            matrix = paired_tests(table)
            accuracy = dict(
                zip(
                    group[track.tag_column("cell")],
                    group[track.metric_column("test/accuracy")],
                    strict=True,
                )
            )
            best = max(accuracy, key=accuracy.__getitem__)
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
