"""A suite's published numbers (``references:``) matched with its cell runs: the rows of the
compare table, and what other tables need to set a published average beside ours."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchmark.leaderboard._columns import MATCH_KEYS, reference_metric
from benchmark.track import metric_column, tag_column

if TYPE_CHECKING:
    from benchmark.suite._schema import ReferenceRow, References

__all__ = ["dataset_average", "matching_runs", "reference_rows", "reference_settings"]

_KEYS = ("dataset", "backbone", "strategy")
SIZE = "data.options.size"  # a MedMNIST cell's resolution (its layout's option), as logged


def reference_settings(ref: ReferenceRow) -> dict[str, Any]:
    """The cell settings ``ref`` holds for: its ``where``, and a ``size:`` value (the
    MedMNIST resolution, the ranks table's shorthand) as ``data.options.size``."""
    size = ref.values.get("size")
    return ref.where if size is None else {SIZE: int(size), **ref.where}


def matching_runs(runs: pd.DataFrame, ref: ReferenceRow) -> pd.DataFrame:
    """The runs of the cells ``ref`` holds for: its dataset, backbone and strategy (those
    given), and its ``where`` settings (the runs' params, as the runner logs them)."""
    matches = _with_settings(runs, reference_settings(ref))
    for key in _KEYS:
        wanted = getattr(ref, key)
        if wanted is not None:
            matches = matches[matches[tag_column(key)] == wanted]
    return matches


def _with_settings(runs: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    for key, value in where.items():
        column = f"params.{key}"
        if column not in runs:
            return runs.iloc[0:0]
        runs = runs[runs[column] == str(value)]  # as track.flatten logs a value
    return runs


def dataset_average(runs: pd.DataFrame, metric: str) -> tuple[float, int]:
    """Our number for a published mean over datasets: the mean over datasets of
    ``metric``'s column (each dataset's runs averaged first), and how many datasets had it."""
    if metric not in runs:
        return math.nan, 0
    values = runs[[tag_column("dataset"), metric]].dropna()
    per_dataset = values.groupby(tag_column("dataset"))[metric].mean()
    return (float(per_dataset.mean()), len(per_dataset)) if len(per_dataset) else (math.nan, 0)


def reference_rows(runs: pd.DataFrame, references: References) -> list[dict[str, Any]]:
    """One row per published number and matching run (``dataset``, ``backbone``,
    ``strategy``, ``metric``, ``paper``, ``ours``, ``diff``, ``note``): a row matching no
    run shows the paper's number alone (``ours`` NaN), unless no run at all has its ``where``
    settings (then it is left out); a mean over datasets is one row beside our mean, its
    dataset column saying over how many."""
    rows = []
    for ref in references.rows:
        settings = reference_settings(ref)
        if settings and _with_settings(runs, settings).empty:
            continue  # no run has its settings: the suite ran with others (another size)
        matches = matching_runs(runs, ref)
        values = {k: v for k, v in ref.values.items() if k not in MATCH_KEYS}
        if ref.average == "datasets":
            for name, paper in values.items():
                key, scale = reference_metric(name)
                ours, n = dataset_average(matches, metric_column(key)) if key else (math.nan, 0)
                where = {k: getattr(ref, k) or "–" for k in _KEYS}
                where["dataset"] = f"mean of {n} datasets" if n else "mean of datasets"
                rows.append(_row(where, name, paper, ours * scale, ref.note))
            continue
        targets = [run for _, run in matches.iterrows()] or [None]
        for run in targets:
            where = {
                key: (run[tag_column(key)] if run is not None else getattr(ref, key) or "–")
                for key in _KEYS
            }
            for name, paper in values.items():
                key, scale = reference_metric(name)
                source = metric_column(key) if key else ""
                ours = math.nan
                if run is not None and source in run.index and not pd.isna(run[source]):
                    ours = float(run[source]) * scale
                rows.append(_row(where, name, paper, ours, ref.note))
    return rows


def _row(where: dict[str, str], metric: str, paper: float, ours: float, note: str) -> dict:
    return {**where, "metric": metric, "paper": paper, "ours": ours, "diff": ours - paper,
            "note": note}  # fmt: skip
