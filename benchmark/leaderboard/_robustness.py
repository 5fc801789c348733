"""Corruption robustness: each cell's balanced error on the clean test split and under each
corruption (``evaluate.corruptions``), with MedMNIST-C's BE and rBE relative to the suite's
reference cell; the ``robustness`` table and the report's curves of the score against the
severity."""

from __future__ import annotations

import math
import re

import pandas as pd

from benchmark.leaderboard._columns import (
    Board,
    empty_board,
    from_runs,
    id_columns,
    measure,
    run_ids,
    run_task,
    run_value,
    tagged_order,
)
from benchmark.track import metric_column, tag_column

__all__ = ["corruption_kinds", "robustness_figure", "robustness_points", "robustness_table"]

_SEVERITY = re.compile("^" + re.escape(metric_column("corrupt/")) + r"([^/]+)/(\d+)/(.+)$")
_PREFIX = metric_column("corrupt/")
POINT_COLUMNS = ["dataset", "backbone", "strategy", "cell", "kind", "severity", "score", "value"]
SUMMARY_COLUMNS = (
    ("clean", "corrupt/clean_balanced_error", False),
    ("corrupted", "corrupt/balanced_error", False),
    ("BE", "corrupt/be", True),  # written by the summary step, when the suite has a reference
    ("rBE", "corrupt/rbe", True),
)
EMPTY_NOTE = (
    "no cell was tested under corruptions: give the suite an `evaluate.corruptions` block "
    "(kinds and severities)"
)


def corruption_kinds(runs: pd.DataFrame) -> list[str]:
    """The corruptions the runs were tested under: in the order their ``corruptions`` tags
    list them, then any other with metrics, by name."""
    found = {
        m.group(1) for c in runs.columns if (m := _SEVERITY.match(str(c))) and runs[c].notna().any()
    }
    found |= {
        str(c).removeprefix(_PREFIX).split("/")[0]
        for c in runs.columns
        if str(c).startswith(_PREFIX) and str(c).endswith("/balanced_error")
        and str(c).count("/") == 2 and runs[c].notna().any()
    }  # fmt: skip
    return tagged_order(runs, "corruptions", found)


def _tested(run: pd.Series) -> bool:
    return any(str(c).startswith(_PREFIX) and not pd.isna(v) for c, v in run.items())


def robustness_table(runs: pd.DataFrame, *, all_runs: bool = False, **_) -> Board:
    """One row per cell tested under corruptions: its balanced error (1 − balanced accuracy)
    on the clean test split, the mean under the corruptions, MedMNIST-C's BE and rBE (where
    the summary step wrote them), and per corruption the mean over its severities. Empty,
    with a note, when no cell was tested under corruptions."""
    tested = [_tested(run) for _, run in runs.iterrows()]
    if not any(tested):
        return empty_board("robustness", EMPTY_NOTE)
    kinds = corruption_kinds(runs)
    ids, runs = id_columns(runs[tested].reset_index(drop=True), all_runs)
    columns = tuple(
        measure(name, key, digits=3, optional=optional) for name, key, optional in SUMMARY_COLUMNS
    ) + tuple(measure(kind, f"corrupt/{kind}/balanced_error", digits=3) for kind in kinds)
    frame, meta = from_runs(runs, ids + columns)
    frame = frame.sort_values(["dataset", "backbone", "strategy"], kind="stable")
    board = Board("robustness", frame.reset_index(drop=True), meta, ["dataset"])
    board.notes.append(
        "balanced error (1 − balanced accuracy; lower is better): clean: on the clean test "
        "split; corrupted: mean over the corruptions; per corruption: mean over its "
        "severities"
    )
    if "BE" in frame or "rBE" in frame:
        board.notes.append(
            "BE, rBE: MedMNIST-C's mean balanced error and relative balanced error (the "
            "increase over clean) as shares of the suite's reference cell of the dataset "
            "(evaluate.corruptions.reference; it has 1.0)"
        )
    return board


def _score(run: pd.Series) -> str:
    """The score the curves follow: the task's ranking metric where the corruptions
    measured it, else accuracy (without ``test/``)."""
    name = run_task(run).ranking.removeprefix("test/")
    measured = any(
        (m := _SEVERITY.match(str(c))) and m.group(3) == name and not pd.isna(v)
        for c, v in run.items()
    )
    return name if measured else "accuracy"


def robustness_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell run, corruption and severity (0: the clean test split) with the
    ``score`` the curves follow and its ``value``."""
    kinds = corruption_kinds(runs)
    rows = []
    for _, run in runs.iterrows():
        score = _score(run)
        ids = run_ids(run)
        cell = run.get(tag_column("cell"))
        if not isinstance(cell, str):
            cell = "/".join(str(v) for v in ids.values())
        severities = sorted({
            int(m.group(2)) for c, v in run.items()
            if (m := _SEVERITY.match(str(c))) and not pd.isna(v)
        })  # fmt: skip
        for kind in kinds:
            for severity in [0, *severities]:
                key = f"test/{score}" if severity == 0 else f"corrupt/{kind}/{severity}/{score}"
                value = run_value(run, key)
                if math.isnan(value):
                    continue
                rows.append({**ids, "cell": cell, "kind": kind, "severity": severity,
                             "score": score, "value": value})  # fmt: skip
    points = pd.DataFrame(rows, columns=POINT_COLUMNS)
    # a cell with only its clean value under a kind has no curve
    return points.groupby(["cell", "kind"]).filter(lambda g: (g["severity"] > 0).any())


def robustness_figure(runs: pd.DataFrame):
    """Small multiples: a row per trained-on dataset, a column per corruption, a line per
    cell of its score against the severity (0: clean); ``None`` without corruption metrics."""
    points = robustness_points(runs)
    if points.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = points.sort_values(["dataset", "cell"], kind="stable")
    datasets = list(dict.fromkeys(points["dataset"]))
    kinds = list(dict.fromkeys(points["kind"]))
    fig, axes = plt.subplots(
        len(datasets), len(kinds), figsize=(0.6 + 2.6 * len(kinds), 0.6 + 2.4 * len(datasets)),
        squeeze=False, sharex=True, sharey="row", layout="constrained",
    )  # fmt: skip
    for r, dataset in enumerate(datasets):
        rows = points[points["dataset"] == dataset]
        cells = list(dict.fromkeys(rows["cell"]))
        for c, kind in enumerate(kinds):
            ax = axes[r, c]
            for k, cell in enumerate(cells):
                line = rows[(rows["cell"] == cell) & (rows["kind"] == kind)]
                line = line.sort_values("severity")
                label = cell.removeprefix(f"{dataset}/")
                ax.plot(line["severity"], line["value"], "o-", ms=3, color=f"C{k}", label=label)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(kind.replace("_", " "), fontsize=9)
            if c == 0:
                scores = ", ".join(dict.fromkeys(rows["score"]))
                ax.set_ylabel(f"{dataset}\n{scores}", fontsize=8)
            if r == len(datasets) - 1:
                ax.set_xlabel("severity (0: clean)", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[r, -1].legend(fontsize=6, loc="best")
    severities = sorted(set(points["severity"]))
    axes[-1, 0].set_xticks(severities, [str(s) for s in severities])
    return fig
