"""Label efficiency: the main metric against the label budget (``train.shots`` images per
class, or a ``train.fraction`` of each class's training images), per dataset, backbone and
strategy; the points the ``efficiency`` table and the report's curves are drawn from."""

from __future__ import annotations

import math

import pandas as pd

from benchmark.leaderboard._columns import ID, Board, Column, empty_board, run_ids, run_value
from benchmark.metrics import get_metric
from benchmark.track import tag_column

__all__ = ["AXES", "METRIC", "efficiency_points", "efficiency_table"]

METRIC = "test/accuracy"
AXES = ("shots", "fraction")
POINT_COLUMNS = ["dataset", "backbone", "strategy", "axis", "budget", "mean", "std", "low",
                 "high", "episodes"]  # fmt: skip


def efficiency_points(runs: pd.DataFrame, *, metric: str = METRIC) -> pd.DataFrame:
    """One row per cell run: its dataset, backbone and strategy, its ``axis`` (``shots``,
    ``fraction``, or empty for a cell trained on every training image) and ``budget`` (the
    axis's value), the metric's ``mean`` over its episodes, their ``std``, the interval of
    the mean (``low``, ``high``; NaN with one episode) and the number of ``episodes``."""
    rows = []
    for _, run in runs.iterrows():
        axis, budget = "", math.nan
        for name in AXES:
            value = run.get(tag_column(name))
            if isinstance(value, str) and value:
                axis, budget = name, float(value)
        rows.append({
            **run_ids(run),
            "axis": axis, "budget": budget,
            "mean": run_value(run, metric), "std": run_value(run, f"{metric}_std"),
            "low": run_value(run, f"{metric}_episodes_low"),
            "high": run_value(run, f"{metric}_episodes_high"),
            "episodes": run_value(run, "episodes"),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def efficiency_table(runs: pd.DataFrame, **_) -> Board:
    """Rows: dataset × backbone × strategy; columns: the label budgets (``1-shot``, …,
    ``10%``, …, and ``all`` for cells without the axis); values: the main metric's mean ±
    its standard deviation across episodes. Empty (with a note) when no cell has the axis."""
    points = efficiency_points(runs)
    if not (points["axis"] != "").any():
        return empty_board(
            "efficiency",
            "no cell has a label-efficiency axis: give the suite train.shots (images per "
            "class) or train.fraction, and train.episodes",
        )
    points["column"] = [_budget_name(a, b) for a, b in zip(points["axis"], points["budget"],
                                                            strict=True)]  # fmt: skip
    order = {axis: k for k, axis in enumerate(AXES)}
    points = points.sort_values(
        ["axis", "budget"], key=lambda s: s.map(order).fillna(len(AXES)) if s.name == "axis" else s
    )
    columns = list(dict.fromkeys(points["column"]))
    keys = ["dataset", "backbone", "strategy"]
    rows = []
    for ids, group in points.groupby(keys, sort=False):
        row = dict(zip(keys, ids, strict=True))
        for _, point in group.iterrows():
            row.setdefault(point["column"], _mean_std(point["mean"], point["std"]))
        rows.append(row)
    meta = {c.name: c for c in ID} | {name: Column(name, "", None) for name in columns}
    frame = pd.DataFrame(rows, columns=list(meta)).sort_values(keys, kind="stable")
    board = Board("efficiency", frame.reset_index(drop=True), meta, ["dataset"])
    episodes = sorted({int(n) for n in points["episodes"].dropna()})
    counted = f" ({_span(episodes)} episodes)" if episodes else ""
    board.notes.append(
        f"test {get_metric(METRIC).title}: mean ± standard deviation across episodes{counted}, "
        f"each a seeded draw of the training images; the interval of each mean is the runs' "
        f"{METRIC}_episodes_low|high; all: the whole training split"
    )
    return board


def _budget_name(axis: str, budget: float) -> str:
    if axis == "shots":
        return f"{budget:g}-shot"
    if axis == "fraction":
        return f"{round(budget * 100, 6):g}%"
    return "all"


def _mean_std(mean: float, std: float) -> str | float:
    if math.isnan(mean):
        return math.nan
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _span(counts: list[int]) -> str:
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
