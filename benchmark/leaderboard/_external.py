"""External validation: each trained-on cell's score on the test split beside its score on
each dataset the suite tests on only (``evaluate.external``), with its interval and the
drop; the ``external`` table and the report's heatmap are drawn from the same points."""

from __future__ import annotations

import math
import re

import pandas as pd

from benchmark.leaderboard._columns import (
    Board,
    Column,
    empty_board,
    from_runs,
    id_columns,
    run_ids,
    run_task,
    run_value,
    tagged_order,
)
from benchmark.track import metric_column, tag_column

__all__ = ["external_datasets", "external_figure", "external_points", "external_table"]

_EXTERNAL = re.compile("^" + re.escape(metric_column("external/")) + r"([^/]+)/(.+)$")
POINT_COLUMNS = ["dataset", "backbone", "strategy", "cell", "score", "internal", "external",
                 "value", "low", "high", "drop"]  # fmt: skip
EMPTY_NOTE = (
    "no cell was tested on an external dataset: give the suite an `evaluate.external` block "
    "(datasets used for testing only)"
)


def external_datasets(runs: pd.DataFrame) -> list[str]:
    """The external datasets the runs were tested on: in the order their ``external`` tags
    list them, then any other with metrics, by name."""
    found = {
        m.group(1) for c in runs.columns if (m := _EXTERNAL.match(str(c))) and runs[c].notna().any()
    }
    return tagged_order(runs, "external", found)


def _score(run: pd.Series, datasets: list[str]) -> str:
    """The score a row is judged by: its task's ranking metric, or the first of its task's
    headline scores that the external evaluation gives (without ``test/``)."""
    task = run_task(run)
    names = [task.ranking] + [key for _, key in task.headline]
    names = [n.removeprefix("test/") for n in dict.fromkeys(names)]
    for name in names:
        if any(not math.isnan(run_value(run, f"external/{d}/{name}")) for d in datasets):
            return name
    return names[0]


def _measured(run: pd.Series, datasets: list[str]) -> tuple[str, float, dict[str, dict]]:
    """A run's score name, its test value, and per external dataset it was tested on its
    ``value``, interval (``low``, ``high``) and ``drop`` (the logged one, else internal −
    external)."""
    score = _score(run, datasets)
    internal = run_value(run, f"test/{score}")
    found = {}
    for name in datasets:
        value = run_value(run, f"external/{name}/{score}")
        if math.isnan(value):
            continue
        drop = run_value(run, f"external/{name}/{score}_drop")
        found[name] = {
            "value": value, "low": run_value(run, f"external/{name}/{score}_ci_low"),
            "high": run_value(run, f"external/{name}/{score}_ci_high"),
            "drop": internal - value if math.isnan(drop) else drop,
        }  # fmt: skip
    return score, internal, found


def external_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell run and external dataset it was tested on: the cell, the ``score``
    it is judged by (its task's ranking metric), its ``internal`` test value, the external
    ``value`` with its interval (``low``, ``high``; NaN where not logged) and the ``drop``."""
    datasets = external_datasets(runs)
    rows = []
    for _, run in runs.iterrows():
        score, internal, found = _measured(run, datasets)
        ids = run_ids(run)
        cell = run.get(tag_column("cell"))
        if not isinstance(cell, str):
            cell = "/".join(str(v) for v in ids.values())
        rows += [{**ids, "cell": cell, "score": score, "internal": internal, "external": name,
                  **point} for name, point in found.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def external_table(runs: pd.DataFrame, *, all_runs: bool = False, **_) -> Board:
    """One row per cell tested on an external dataset: the score it is judged by, its test
    value (``internal``), and per external dataset its value, its interval (``<name>_ci``,
    where logged) and its drop (``<name>_drop``). Empty, with a note, when no cell was."""
    datasets = external_datasets(runs)
    measured = [_measured(run, datasets) for _, run in runs.iterrows()]
    tested = [bool(found) for _, _, found in measured]
    if not any(tested):
        return empty_board("external", EMPTY_NOTE)
    measured = [m for m, t in zip(measured, tested, strict=True) if t]
    ids, runs = id_columns(runs[tested].reset_index(drop=True), all_runs)
    frame, meta = from_runs(runs, ids)
    frame["score"] = [score for score, _, _ in measured]
    frame["internal"] = [internal for _, internal, _ in measured]
    meta["score"] = Column("score", label=True, higher_is_better=None)
    meta["internal"] = Column("internal", digits=3)
    nan = {"value": math.nan, "low": math.nan, "high": math.nan, "drop": math.nan}
    for name in datasets:
        found = [m[2].get(name, nan) for m in measured]
        frame[name] = [p["value"] for p in found]
        meta[name] = Column(name, digits=3)
        intervals = [
            "–" if math.isnan(p["low"]) else f"[{p['low']:.3f}, {p['high']:.3f}]" for p in found
        ]
        if any(i != "–" for i in intervals):
            frame[f"{name}_ci"] = intervals
            meta[f"{name}_ci"] = Column(f"{name}_ci", label=True, higher_is_better=None)
        frame[f"{name}_drop"] = [p["drop"] for p in found]
        meta[f"{name}_drop"] = Column(f"{name}_drop", higher_is_better=False, digits=3)
    frame = frame.sort_values(["dataset", "backbone", "strategy"], kind="stable")
    board = Board("external", frame.reset_index(drop=True), meta, ["dataset"])
    board.notes.append(
        "score: each task's ranking metric (multi-class and ordinal: weighted F1; binary and "
        "multi-label: macro AUROC) on the test split (internal) and on each external dataset "
        "(tested only, its classes mapped as the suite's evaluate.external says); _ci: its "
        "bootstrap interval; _drop: internal − external (positive: worse outside)"
    )
    return board


def external_figure(runs: pd.DataFrame):
    """A heatmap: trained-on cells × (test split, then each external dataset), coloured by
    the score (0–1), each square annotated with it and, for an external dataset, the drop;
    ``None`` when no cell was tested on an external dataset."""
    points = external_points(runs)
    if points.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = list(dict.fromkeys(points.sort_values(["dataset", "cell"], kind="stable")["cell"]))
    datasets = list(dict.fromkeys(points["external"]))
    values = np.full((len(cells), 1 + len(datasets)), np.nan)
    drops = np.full_like(values, np.nan)
    scores = {}
    for _, p in points.iterrows():
        i = cells.index(p["cell"])
        values[i, 0] = p["internal"]
        values[i, 1 + datasets.index(p["external"])] = p["value"]
        drops[i, 1 + datasets.index(p["external"])] = p["drop"]
        scores[p["cell"]] = p["score"]
    fig, ax = plt.subplots(
        figsize=(3.2 + 1.5 * values.shape[1], 1.3 + 0.5 * len(cells)), layout="constrained"
    )
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=1,
                      aspect="auto")  # fmt: skip
    ax.set_facecolor("#eeeeee")  # a cell not tested on that dataset
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        text = f"{value:.3f}" + ("" if np.isnan(drops[i, j]) else f"\n−{drops[i, j]:.3f}"
                                 if drops[i, j] >= 0 else f"\n+{-drops[i, j]:.3f}")  # fmt: skip
        colour = "black" if value > 0.6 else "white"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.axvline(0.5, color="white", lw=3)  # the test split apart from the external datasets
    ax.set_xticks(range(values.shape[1]), ["test (internal)", *datasets], fontsize=8,
                  rotation=20, ha="right")  # fmt: skip
    ax.set_yticks(range(len(cells)), [f"{c} ({scores[c]})" for c in cells], fontsize=7)
    ax.set_xlabel("evaluated on (under each external score: its change from the test split)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="score")
    return fig
