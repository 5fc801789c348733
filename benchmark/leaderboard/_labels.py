"""Per-label results of multi-label cells, one column per label (the layout of
torchxrayvision's benchmark tables and of the CheXNet paper's per-finding AUROC)."""

from __future__ import annotations

import re

import pandas as pd

from benchmark.leaderboard._columns import Board, Column, from_runs, id_columns, measure
from benchmark.track import metric_column, tag_column

__all__ = ["labels_table"]

_PER_LABEL = re.compile("^" + re.escape(metric_column("test/")) + r"([^/]+)/average_precision$")


def labels_table(runs: pd.DataFrame, *, all_runs: bool = False, **_) -> Board:
    """One row per multi-label cell: each label's test AUROC, then the macro and micro means
    (over the labels with both classes in the test split) and the labels left out of them.
    A label's column is empty for a cell whose dataset does not have it."""
    labels = _labels(runs)
    multilabel = runs[[any(_has(run, label) for label in labels) for _, run in runs.iterrows()]]
    ids, multilabel = id_columns(multilabel, all_runs)
    frame, meta = from_runs(multilabel, ids)
    for label in labels:
        column = measure(label, f"test/{label}/auroc", digits=3)
        frame[label] = multilabel.get(column.source, pd.Series(float("nan"), multilabel.index))
        meta[label] = column
    for name, key in (("macro", "test/auroc_macro"), ("micro", "test/auroc_micro")):
        column = measure(name, key, digits=3)
        frame[name] = multilabel.get(column.source, pd.Series(float("nan"), multilabel.index))
        meta[name] = column
    left_out = metric_column("test/labels_left_out")
    if left_out in multilabel and multilabel[left_out].fillna(0).gt(0).any():
        frame["left_out"] = multilabel[left_out]
        meta["left_out"] = Column("left_out", left_out, None, digits=0)
    board = Board("labels", frame.reset_index(drop=True), meta, ["dataset"])
    board.notes.append(
        "test AUROC per label; macro and micro over the labels with positives and negatives "
        "in the test split (left_out: labels without, named on each run's eval_notes tag)"
    )
    if frame.empty:
        board.notes.append("no multi-label cell: this table shows datasets with `task: multilabel`")
    return board


def _labels(runs: pd.DataFrame) -> list[str]:
    """The labels of the multi-label cells, in the order their runs' tags list them."""
    found = {m.group(1) for column in runs.columns if (m := _PER_LABEL.match(column))}
    order: dict[str, None] = {}
    for classes in runs.get(tag_column("classes"), pd.Series(dtype=str)).dropna():
        order |= dict.fromkeys(c for c in str(classes).split(",") if c in found)
    return list(order) + sorted(found - set(order))


def _has(run: pd.Series, label: str) -> bool:
    value = run.get(metric_column(f"test/{label}/average_precision"))
    return value is not None and not pd.isna(value)
