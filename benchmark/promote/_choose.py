"""Choosing a suite's champions: per dataset, the best finished cell by one test metric
(by default its task's: AUROC where a threshold decides, weighted F1 otherwise), ties
broken by the narrower confidence interval, then by the lower batch-1 latency."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from benchmark.errors import MedbenchError
from benchmark.metrics import higher_is_better
from benchmark.track import metric_column, tag_column

LATENCY = "latency/b1_mean_ms"


@dataclass(frozen=True)
class Choice:
    """One dataset's decision: every cell with why it was or was not chosen."""

    dataset: str
    metric: str
    candidates: pd.DataFrame  # cell, run_id, status, value, ci_width, latency_ms, note
    winner: pd.Series | None  # the chosen run's row of the runs table


def choose_champions(runs: pd.DataFrame, *, metric: str | None = None) -> list[Choice]:
    """``runs`` (the newest run of each cell, any status, from ``Store.cell_runs``) →
    one :class:`Choice` per dataset, by ``metric`` (default: per dataset, its task's:
    ``test/auroc_macro`` for binary and multi-label tasks, else ``test/f1_weighted``).
    Failed or unfinished runs are never chosen."""
    if runs.empty:
        raise MedbenchError("the suite has no cell runs yet: run `medbench run SUITE` first.")
    if metric is not None:
        _check_metric(runs, metric)
    choices = []
    for dataset, group in runs.groupby(tag_column("dataset"), sort=True):
        choices.append(_choose(str(dataset), group, metric or _task_metric(group)))
    return choices


def _task_metric(group: pd.DataFrame) -> str:
    """The ranking metric of the dataset's task (its runs' ``task`` tag; none: multiclass)."""
    from benchmark.tasks import get_task

    tasks = group.get(tag_column("task"), pd.Series(dtype=str)).dropna()
    return get_task(str(tasks.iloc[-1]) if len(tasks) else "multiclass").ranking


def _check_metric(runs: pd.DataFrame, metric: str) -> None:
    """``metric`` is logged by some run and ranked by the catalogue."""
    column = metric_column(metric)
    if column not in runs or runs[column].isna().all():
        known = sorted(
            c.removeprefix("metrics.")
            for c in runs.columns
            if c.startswith(metric_column("test/")) and c.count("/") == 1
        )
        raise MedbenchError(f"no run has the metric '{metric}'; test metrics logged: {known}.")
    better = higher_is_better(metric)
    if better is None:
        raise MedbenchError(
            f"--metric {metric}: the metric catalogue ranks it neither way (a count, a bound "
            "or a signed score); choose a ranked test metric such as test/f1_weighted "
            "(`medbench list metrics` says which are)."
        )


def _choose(dataset: str, group: pd.DataFrame, metric: str) -> Choice:
    column = metric_column(metric)
    rows = [_candidate(row, column) for _, row in group.iterrows()]
    table = pd.DataFrame(rows, index=group.index)
    eligible = table[table["note"] == ""]
    winner = None
    if not eligible.empty:
        sign = -1 if higher_is_better(metric) else 1
        order = eligible.assign(key=sign * eligible["value"]).sort_values(
            ["key", "ci_width", "latency_ms"], kind="stable"
        )
        best = order.index[0]
        table.loc[best, "note"] = "chosen"
        winner = group.loc[best]
    return Choice(dataset=dataset, metric=metric, candidates=table, winner=winner)


def _candidate(row: pd.Series, column: str) -> dict:
    metric = column.removeprefix("metrics.")
    value = as_number(row.get(column))
    low, high = as_number(row.get(f"{column}_ci_low")), as_number(row.get(f"{column}_ci_high"))
    status = row["status"]
    if status != "FINISHED":
        error = row.get(tag_column("error"))
        why = f"{error}" if isinstance(error, str) and error else "no error recorded"
        note = f"refused: run {status}" + (f" ({why})" if status == "FAILED" else " (unfinished)")
    elif math.isnan(value):
        note = f"refused: no {metric}"
    else:
        note = ""
    return {
        "cell": row[tag_column("cell")],
        "run_id": row["run_id"],
        "status": status,
        "value": value,
        "ci_width": high - low if not (math.isnan(low) or math.isnan(high)) else math.inf,
        "latency_ms": as_number(row.get(metric_column(LATENCY)), default=math.inf),
        "note": note,
    }


def as_number(value: object, default: float = math.nan) -> float:
    """A runs table's value as a float; ``default`` for a missing value, NaN or text."""
    try:
        number = float(value)  # type: ignore[arg-type]  # anything is tried; refusals caught
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number
