"""What a table's columns are: where each value comes from, its scale and digits, and
which direction is better (a metric's, from the catalogue)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from benchmark.metrics import higher_is_better
from benchmark.tasks import Task, get_task
from benchmark.track import metric_column, tag_column

__all__ = [
    "BUDGET",
    "COST",
    "LATENCY",
    "MATCH_KEYS",
    "REFERENCE_METRICS",
    "SUMMARY",
    "Board",
    "Column",
    "empty_board",
    "measure",
    "reference_metric",
    "run_ids",
    "run_task",
    "run_value",
]


@dataclass(frozen=True)
class Column:
    name: str
    source: str = ""  # a column of the MLflow runs DataFrame, if read from one
    higher_is_better: bool | None = True  # None: not ranked (labels, counts)
    scale: float = 1.0
    digits: int = 4  # decimals; -1: four significant digits (published numbers)
    optional: bool = False  # left out when no run has it
    warning: bool = False  # left out unless some run has a non-zero value
    label: bool = False  # text (dataset, class, …), left-aligned

    @property
    def is_label(self) -> bool:
        return self.label or self.source.startswith(("tags.", "analysis."))


def measure(name: str, key: str, **options) -> Column:
    """A column of metric ``key``, ranked as the metric catalogue says."""
    return Column(name, metric_column(key), higher_is_better(key), **options)


@dataclass
class Board:
    """One table: its rows, its columns' meaning, where best values are compared, notes."""

    name: str
    frame: pd.DataFrame
    columns: dict[str, Column]
    groups: list[str] = field(default_factory=list)  # best values are marked within these
    notes: list[str] = field(default_factory=list)


ID = tuple(Column(key, tag_column(key), None) for key in ("dataset", "backbone", "strategy"))
# the label budget of a cell of the label-efficiency axis (its own row beside the others')
BUDGET = tuple(Column(key, tag_column(key), None, optional=True) for key in ("shots", "fraction"))
RUN = (
    Column("run", "run_id", None, label=True),
    Column("started", "start_time", None, label=True),
)

SUMMARY = (
    measure("accuracy", "test/accuracy"),
    Column("accuracy_ci", "", None, label=True, optional=True),
    measure("accuracy_std", "test/accuracy_std", optional=True),
    measure("f1_weighted", "test/f1_weighted"),
    measure("f1_macro", "test/f1_macro"),
    measure("auroc", "test/auroc_macro"),
    # a binary task's operating point (its threshold chosen on validation)
    measure("sensitivity", "test/sensitivity", optional=True),
    measure("specificity", "test/specificity", optional=True),
    measure("ppv", "test/ppv", optional=True),
    measure("npv", "test/npv", optional=True),
    measure("threshold", "test/threshold", digits=3, optional=True),
    # a multi-label task's means over its labels
    measure("auroc_micro", "test/auroc_micro", optional=True),
    measure("ap_macro", "test/average_precision_macro", optional=True),
    # an ordinal task's agreement in grades
    measure("kappa_q", "test/kappa_quadratic", optional=True),
    measure("mae", "test/mae", digits=3, optional=True),
    measure("params_m", "params/total", scale=1e-6, digits=3),
    measure("train_s", "time/train_s", digits=1),
    measure("latency_ms", "latency/b1_mean_ms", digits=2, optional=True),
    measure("trials", "tune/trials", digits=0, optional=True),
    measure("pruned", "tune/trials_pruned", digits=0, optional=True),
    Column("≈best", "analysis.not_worse_than_best", None, optional=True),
    measure("test_leaks", "data/test_leaks", digits=0, optional=True, warning=True),
)
COST = (
    measure("params_m", "params/total", scale=1e-6, digits=2),
    measure("trainable_m", "params/trainable", scale=1e-6, digits=2, optional=True),
    measure("gmacs", "flops/gmacs", digits=2, optional=True),
    measure("train_min", "time/train_s", scale=1 / 60, digits=2),
    measure("epoch_s", "time/epoch_s", digits=1, optional=True),
    measure("accuracy", "test/accuracy"),
)
LATENCY = tuple(
    measure(f"{stat}_ms", f"latency/b1_{stat}_ms", digits=2, optional=stat in ("p50", "p95"))
    for stat in ("min", "mean", "max", "p50", "p95")
)
TRIALS = (
    measure("trials", "tune/trials", digits=0),
    measure("complete", "tune/trials_complete", digits=0),
    measure("pruned", "tune/trials_pruned", digits=0),
    measure("failed", "tune/trials_failed", digits=0, optional=True),
    measure("best_trial", "tune/best_trial", digits=0),
    measure("best_value", "tune/best_value"),
)

# Published numbers (a suite's ``references``) → our metric, and the scale that turns ours
# into the paper's unit. precision/recall/f1 without a suffix are compared with the
# weighted averages; a name with a slash is a per-class or per-label test metric
# (``Atelectasis/auroc`` → ``test/Atelectasis/auroc``, see ``reference_metric``).
REFERENCE_METRICS: dict[str, tuple[str, float]] = {
    **{name: (f"test/{name}", 1.0) for name in (
        "accuracy", "balanced_accuracy", "f1_weighted", "f1_macro", "precision_weighted",
        "precision_macro", "recall_weighted", "recall_macro",
    )},
    "auroc": ("test/auroc_macro", 1.0),
    "precision": ("test/precision_weighted", 1.0),
    "recall": ("test/recall_weighted", 1.0),
    "f1": ("test/f1_weighted", 1.0),
    "val_accuracy": ("val/accuracy", 1.0),
    "params_m": ("params/total", 1e-6),
    "train_min": ("time/train_s", 1 / 60),
    "latency_mean_ms": ("latency/b1_mean_ms", 1.0),
    "latency_min_ms": ("latency/b1_min_ms", 1.0),
    "latency_max_ms": ("latency/b1_max_ms", 1.0),
}  # fmt: skip


# reference values that say which rows a published number is of, not a result: ``size``,
# the MedMNIST resolution it was measured at (the ranks table matches it to the cells')
MATCH_KEYS = ("size",)


def reference_metric(name: str) -> tuple[str, float]:
    """Our metric and scale for a published number called ``name`` (``("", 1)``: none)."""
    if name in REFERENCE_METRICS:
        return REFERENCE_METRICS[name]
    return (f"test/{name}", 1.0) if "/" in name else ("", 1.0)


def from_runs(runs: pd.DataFrame, columns: tuple[Column, ...]) -> tuple[pd.DataFrame, dict]:
    frame, meta = pd.DataFrame(index=runs.index), {}
    for col in columns:
        if col.warning:
            values = runs.get(col.source, pd.Series(dtype=float)).fillna(0)
            if not (values > 0).any():
                continue
        if col.source in runs:
            values = runs[col.source]
            frame[col.name] = values if col.is_label else values * col.scale
        elif not col.optional and col.source:
            frame[col.name] = float("nan")  # not logged yet: a dash, not a crash
        else:
            continue
        meta[col.name] = col
    return frame, meta


def id_columns(runs: pd.DataFrame, all_runs: bool) -> tuple[tuple[Column, ...], pd.DataFrame]:
    columns = ID + BUDGET + (RUN if all_runs else ())
    runs = runs.copy()
    if all_runs:
        runs["run_id"] = runs["run_id"].str[:8]
        runs["start_time"] = pd.to_datetime(runs["start_time"]).dt.strftime("%Y-%m-%d %H:%M")
    return columns, runs


def empty_board(name: str, note: str) -> Board:
    """A table with no rows (only the cell's id columns) and the ``note`` saying why."""
    frame = pd.DataFrame(columns=[c.name for c in ID])
    return Board(name, frame, {c.name: c for c in ID}, notes=[note])


def run_ids(run: pd.Series) -> dict:
    """A run's ``dataset``, ``backbone`` and ``strategy`` (its tags)."""
    return {c.name: run.get(c.source) for c in ID}


def run_task(run: pd.Series) -> type[Task]:
    """The task a run's ``task`` tag names (multi-class for a run logged without one)."""
    kind = run.get(tag_column("task"))
    return get_task(kind if isinstance(kind, str) and kind else "multiclass")


def run_value(run: pd.Series, key: str) -> float:
    """A run's metric ``key``; NaN where it was not logged."""
    value = run.get(metric_column(key))
    return math.nan if value is None or pd.isna(value) else float(value)


def tagged_order(runs: pd.DataFrame, tag: str, found: set[str]) -> list[str]:
    """The names in ``found`` in the order the runs' comma-joined ``tag`` lists them (the
    runs taken by dataset), then the others by name."""
    order: dict[str, None] = {}
    if tag_column(tag) in runs:
        runs = runs.sort_values(tag_column("dataset"), kind="stable")
    for names in runs.get(tag_column(tag), pd.Series(dtype=str)).dropna():
        order |= dict.fromkeys(n for n in str(names).split(",") if n in found)
    return list(order) + sorted(found - set(order))
