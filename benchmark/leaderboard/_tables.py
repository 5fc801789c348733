"""The tables, by name: each builds a :class:`Board` from a suite's cell runs.

``summary``, ``classes`` (per-class precision/recall/F1, as the brain paper's Table 4),
``labels`` (per-label AUROC of multi-label cells, built in ``_labels``),
``cost`` (parameters, training time, accuracy), ``latency`` (Table 6), ``compare``
(beside a suite's published numbers, Table 7), ``explain`` (CAM quality per method),
``trials`` (the tuning per cell), ``efficiency`` (accuracy against the label budget,
built in ``_efficiency``), ``ranks`` (across datasets, built in ``_ranks``), ``external``
(scores on the datasets tested only, built in ``_external``) and ``robustness`` (balanced
errors under corruptions, built in ``_robustness``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pandas as pd

from benchmark.errors import MedbenchError
from benchmark.leaderboard._columns import (
    COST,
    ID,
    LATENCY,
    SUMMARY,
    TRIALS,
    Board,
    Column,
    from_runs,
    id_columns,
    measure,
)
from benchmark.leaderboard._efficiency import efficiency_table
from benchmark.leaderboard._external import external_table
from benchmark.leaderboard._labels import labels_table
from benchmark.leaderboard._names import TableName
from benchmark.leaderboard._ranks import ranks_table
from benchmark.leaderboard._references import reference_rows
from benchmark.leaderboard._robustness import robustness_table
from benchmark.metrics import CATALOGUE
from benchmark.track import metric_column, tag_column

__all__ = ["LEAKS_HELP", "NON_COMMERCIAL_HELP", "NOT_WORSE_HELP", "TABLES", "build_table"]

NOT_WORSE_HELP = (
    "≈best: not significantly worse than the best cell of its dataset (McNemar on accuracy; "
    "binary: DeLong on AUROC; multi-label: paired bootstrap of the macro AUROC; Holm)"
)
LEAKS_HELP = (
    "test_leaks: test images that duplicate, or share a patient with, training or validation "
    "images; their scores may be inflated (`medbench data audit`; `audit.on_leak: drop`)"
)
NON_COMMERCIAL = "†"
NON_COMMERCIAL_HELP = "† not for commercial use under its licence: "
# CAM quality scores, in the catalogue's order (the counts of images scored left out)
CAM_SCORES = tuple(
    m.key.removeprefix("cam/{method}/")
    for m in CATALOGUE
    if m.key.startswith("cam/{method}/") and m.unit != "images"
)


def _summary(runs, *, sort="accuracy", paired=None, all_runs=False, **_) -> Board:
    if paired:
        verdicts = {
            cell: "✓" if v["not_worse_than_best"] else ""
            for analysis in paired.values()
            for cell, v in analysis["cells"].items()
        }
        runs = runs.assign(
            **{"analysis.not_worse_than_best": runs[tag_column("cell")].map(verdicts)}
        )
    ids, runs = id_columns(runs, all_runs)
    frame, meta = from_runs(runs, ids + SUMMARY)
    low, high = (
        runs.get(metric_column("test/accuracy_ci_low")),
        runs.get(metric_column("test/accuracy_ci_high")),
    )
    if low is not None and high is not None and low.notna().any():
        ci = [
            "–" if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"
            for lo, hi in zip(low, high, strict=True)
        ]
        frame.insert(frame.columns.get_loc("accuracy") + 1, "accuracy_ci", ci)
        meta["accuracy_ci"] = next(c for c in SUMMARY if c.name == "accuracy_ci")
    board = Board("summary", frame, meta, ["dataset"])
    if paired:
        board.notes.append(NOT_WORSE_HELP)
    if "test_leaks" in frame:
        board.notes.append(LEAKS_HELP)
    _mark_non_commercial(board, runs)
    return _sorted(board, sort)


def _mark_non_commercial(board: Board, runs: pd.DataFrame) -> None:
    """A † after each dataset whose licence rules out commercial use (the runs' tag
    ``medbench.commercial``), and a footnote naming each one's licence."""
    commercial = runs.get(tag_column("commercial"))
    if commercial is None or "dataset" not in board.frame:
        return
    marked = (commercial == "no").to_numpy()
    if not marked.any():
        return
    board.frame.loc[marked, "dataset"] = board.frame.loc[marked, "dataset"] + f" {NON_COMMERCIAL}"
    licences = runs.get(tag_column("licence"), pd.Series("", index=runs.index))
    named = dict(zip(runs[tag_column("dataset")][marked], licences[marked], strict=True))
    board.notes.append(
        NON_COMMERCIAL_HELP + "; ".join(f"{k} ({v})" for k, v in sorted(named.items()))
    )


def _simple(name: str, columns: tuple[Column, ...], default_sort: str):
    def build(runs, *, sort=None, all_runs=False, **_) -> Board:
        ids, runs = id_columns(runs, all_runs)
        frame, meta = from_runs(runs, ids + columns)
        return _sorted(Board(name, frame, meta, ["dataset"]), sort or default_sort)

    return build


def _latency(runs, *, sort=None, all_runs=False, **_) -> Board:
    """Like the brain paper's Table 6: batch-1 prediction times, and the throughput at the
    largest batch measured."""
    sizes = [int(m.group(1)) for c in runs.columns if (m := _THROUGHPUT.match(c))]
    columns = LATENCY
    if sizes:
        n = max(sizes)
        columns += (measure(f"b{n}_img_per_s", f"latency/b{n}_img_per_s", digits=1),)
    return _simple("latency", columns, "mean_ms")(runs, sort=sort, all_runs=all_runs)


_THROUGHPUT = re.compile("^" + re.escape(metric_column("latency/b")) + r"(\d+)_img_per_s$")


def _classes(runs, *, all_runs=False, **_) -> Board:
    """Like the brain paper's Table 4: per model and class P/R/F1, then the weighted
    average and the accuracy."""
    ids, runs = id_columns(runs, all_runs)
    id_frame, id_meta = from_runs(runs, ids)
    pattern = re.compile(
        "^" + re.escape(metric_column("test/")) + "(.+)/(precision|recall|f1|support)$"
    )
    classes = sorted({m.group(1) for c in runs.columns if (m := pattern.match(c))})
    rows = []
    for i, run in runs.iterrows():
        base = id_frame.loc[i].to_dict()
        for label in classes:
            values = {
                k: run.get(metric_column(f"test/{label}/{k}"))
                for k in ("precision", "recall", "f1")
            }
            if all(pd.isna(v) for v in values.values()):
                continue  # a class of another dataset
            rows.append({**base, "class": label, **values,
                         "support": run.get(metric_column(f"test/{label}/support"))})  # fmt: skip
        nan = float("nan")
        weighted = {
            k: run.get(metric_column(f"test/{k}_weighted")) for k in ("precision", "recall", "f1")
        }
        rows.append({**base, "class": "weighted avg", **weighted, "support": nan})
        rows.append({**base, "class": "accuracy", "precision": nan, "recall": nan,
                     "f1": run.get(metric_column("test/accuracy")), "support": nan})  # fmt: skip
    meta = {
        **id_meta,
        "class": Column("class", label=True, higher_is_better=None),
        "precision": Column("precision"),
        "recall": Column("recall"),
        "f1": Column("f1"),
        "support": Column("support", higher_is_better=None, digits=0),
    }
    frame = pd.DataFrame(rows, columns=list(meta)).astype(
        {k: float for k in ("precision", "recall", "f1", "support")}
    )
    return Board("classes", frame, meta, ["dataset", "class"])


def _compare(runs, *, references=None, **_) -> Board:
    """Like the brain paper's Table 7: each published number beside ours."""
    if references is None:
        raise MedbenchError(
            "the compare table needs the suite's `references:` block: pass the suite file "
            "(not an experiment name), and give the suite a references block."
        )
    rows = reference_rows(runs, references)
    meta = {c.name: c for c in ID} | {
        "metric": Column("metric", label=True, higher_is_better=None),
        "paper": Column("paper", higher_is_better=None, digits=-1),
        "ours": Column("ours", higher_is_better=None, digits=-1),
        "diff": Column("diff", higher_is_better=None, digits=-1),
        "note": Column("note", label=True, higher_is_better=None),
    }
    frame = pd.DataFrame(rows, columns=list(meta))
    if not (frame["note"] != "").any():
        frame = frame.drop(columns="note")
        meta.pop("note")
    board = Board("compare", frame, meta)
    board.notes.append(f"paper: {references.source}")
    board.notes.append(
        "diff = ours − paper; precision/recall/f1 without a suffix are compared with our "
        "weighted averages; a dash: not measured by this run"
    )
    return board


def _explain(runs, *, all_runs=False, **_) -> Board:
    """CAM quality per cell and method (random and centred maps are the chance levels)."""
    ids, runs = id_columns(runs, all_runs)
    id_frame, id_meta = from_runs(runs, ids)
    pattern = re.compile("^" + re.escape(metric_column("cam/")) + "([^/]+)/([a-z_]+)$")
    methods = sorted({m.group(1) for c in runs.columns if (m := pattern.match(c))})
    scores = [s for s in CAM_SCORES if any(metric_column(f"cam/{m}/{s}") in runs for m in methods)]
    rows = []
    for i, run in runs.iterrows():
        for method in methods:
            values = {s: run.get(metric_column(f"cam/{method}/{s}"), float("nan")) for s in scores}
            if all(pd.isna(v) for v in values.values()):
                continue
            rows.append({**id_frame.loc[i].to_dict(), "method": method, **values})
    meta = {**id_meta, "method": Column("method", label=True, higher_is_better=None)}
    meta |= {s: measure(s, f"cam/{methods[0]}/{s}", digits=3) for s in scores}
    frame = pd.DataFrame(rows, columns=list(meta))
    board = Board("explain", frame, meta, ["dataset", "backbone", "strategy"])
    board.notes.append("random and center: maps that know nothing, scored alike (chance level)")
    return board


def _trials(runs, *, all_runs=False, **_) -> Board:
    ids, runs = id_columns(runs, all_runs)
    frame, meta = from_runs(
        runs,
        (*ids, *TRIALS),
    )
    best = sorted(c for c in runs.columns if c.startswith("params.best."))
    frame["best_params"] = [
        ", ".join(f"{c.removeprefix('params.best.')}={run[c]}" for c in best if not pd.isna(run[c]))
        or "–"
        for _, run in runs.iterrows()
    ]
    meta["best_params"] = Column("best_params", label=True, higher_is_better=None)
    board = Board("trials", frame, meta, ["dataset"])
    if frame["trials"].isna().all():
        board.notes.append("no cell was tuned: the suite has no `tune:` block (or --trials N)")
    return board


TABLES: dict[TableName, Callable[..., Board]] = {
    "summary": _summary,
    "classes": _classes,
    "labels": labels_table,
    "cost": _simple("cost", COST, "accuracy"),
    "latency": _latency,
    "compare": _compare,
    "explain": _explain,
    "trials": _trials,
    "efficiency": efficiency_table,
    "ranks": ranks_table,
    "external": external_table,
    "robustness": robustness_table,
}


def build_table(name: str, runs: pd.DataFrame, **options) -> Board:
    """Build table ``name`` from cell runs; ``options``: ``sort``, ``paired``, ``pvalues``,
    ``references``, ``all_runs``."""
    if name not in TABLES:
        raise MedbenchError(f"unknown table '{name}': expected one of {list(TABLES)}.")
    board = TABLES[name](runs, **options)
    if options.get("sort") is not None and name not in _SORTED_BY_DEFAULT:
        board = _sorted(board, options["sort"])  # the per-class, per-method, … tables on demand
    return board


_SORTED_BY_DEFAULT = ("summary", "cost", "latency")


def _sorted(board: Board, sort: str) -> Board:
    ranked = {n: n for n, c in board.columns.items() if c.higher_is_better is not None}
    ranked |= {
        c.source.removeprefix(metric_column("")): n
        for n, c in board.columns.items()
        if c.higher_is_better is not None and c.source
    }
    if sort not in ranked:
        expected = f"one of {sorted(ranked)}" if ranked else "nothing: it has no ranked column"
        raise MedbenchError(f"cannot sort the {board.name} table by '{sort}': expected {expected}.")
    key = ranked[sort]
    ascending = not board.columns[key].higher_is_better
    board.frame = board.frame.sort_values(
        key, ascending=ascending, na_position="last", kind="stable"
    ).reset_index(drop=True)
    return board
