"""MLflow cell runs → the tables papers print, in the formats people paste them into.

Each table is a :class:`Board`: a DataFrame, what each column means (unit, digits, which
direction is better), the columns within whose groups a best value is marked, and notes.
Tables: ``summary``, ``classes`` (per-class precision/recall/F1), ``cost`` (parameters,
training time, accuracy), ``latency``, ``compare`` (beside a suite's published numbers),
``explain`` (CAM quality per method) and ``trials`` (the tuning per cell).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from benchmark.errors import MedbenchError

__all__ = [
    "FORMATS",
    "LEAKS_HELP",
    "NOT_WORSE_HELP",
    "TABLES",
    "Board",
    "Column",
    "best_mask",
    "build_table",
    "cell_texts",
    "format_cell",
    "format_table",
    "summary_table",
]

FORMATS = ("table", "markdown", "latex", "csv", "json", "html")
NOT_WORSE_HELP = "≈best: not significantly worse than the best cell of its dataset (McNemar, Holm)"
LEAKS_HELP = (
    "test_leaks: test images that duplicate, or share a patient with, training or validation "
    "images; their scores may be inflated (`medbench data audit`; `audit.on_leak: drop`)"
)


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


@dataclass
class Board:
    """One table: its rows, its columns' meaning, where best values are compared, notes."""

    name: str
    frame: pd.DataFrame
    columns: dict[str, Column]
    groups: list[str] = field(default_factory=list)  # best values are marked within these
    notes: list[str] = field(default_factory=list)


_ID = (
    Column("dataset", "tags.medbench.dataset", None),
    Column("backbone", "tags.medbench.backbone", None),
    Column("strategy", "tags.medbench.strategy", None),
)
_RUN = (
    Column("run", "run_id", None, label=True),
    Column("started", "start_time", None, label=True),
)

SUMMARY = (
    Column("accuracy", "metrics.test/accuracy"),
    Column("accuracy_ci", "", None, label=True, optional=True),
    Column("accuracy_std", "metrics.test/accuracy_std", False, optional=True),
    Column("f1_weighted", "metrics.test/f1_weighted"),
    Column("f1_macro", "metrics.test/f1_macro"),
    Column("auroc", "metrics.test/auroc_macro"),
    Column("params_m", "metrics.params/total", False, 1e-6, 3),
    Column("train_s", "metrics.time/train_s", False, 1.0, 1),
    Column("latency_ms", "metrics.latency/b1_mean_ms", False, 1.0, 2, optional=True),
    Column("trials", "metrics.tune/trials", None, digits=0, optional=True),
    Column("pruned", "metrics.tune/trials_pruned", None, digits=0, optional=True),
    Column("≈best", "analysis.not_worse_than_best", None, optional=True),
    Column("test_leaks", "metrics.data/test_leaks", None, digits=0, optional=True, warning=True),
)
COST = (
    Column("params_m", "metrics.params/total", False, 1e-6, 2),
    Column("trainable_m", "metrics.params/trainable", False, 1e-6, 2, optional=True),
    Column("gmacs", "metrics.flops/gmacs", False, 1.0, 2, optional=True),
    Column("train_min", "metrics.time/train_s", False, 1 / 60, 2),
    Column("epoch_s", "metrics.time/epoch_s", False, 1.0, 1, optional=True),
    Column("accuracy", "metrics.test/accuracy"),
)
LATENCY = (
    Column("min_ms", "metrics.latency/b1_min_ms", False, 1.0, 2),
    Column("mean_ms", "metrics.latency/b1_mean_ms", False, 1.0, 2),
    Column("max_ms", "metrics.latency/b1_max_ms", False, 1.0, 2),
    Column("p50_ms", "metrics.latency/b1_p50_ms", False, 1.0, 2, optional=True),
    Column("p95_ms", "metrics.latency/b1_p95_ms", False, 1.0, 2, optional=True),
)

# Published numbers (a suite's ``references``) → our metric, and the scale that turns ours
# into the paper's unit. precision/recall/f1 without a suffix are compared with the
# weighted averages.
REFERENCE_METRICS: dict[str, tuple[str, float]] = {
    "accuracy": ("metrics.test/accuracy", 1.0),
    "balanced_accuracy": ("metrics.test/balanced_accuracy", 1.0),
    "auroc": ("metrics.test/auroc_macro", 1.0),
    "f1_weighted": ("metrics.test/f1_weighted", 1.0),
    "f1_macro": ("metrics.test/f1_macro", 1.0),
    "precision_weighted": ("metrics.test/precision_weighted", 1.0),
    "precision_macro": ("metrics.test/precision_macro", 1.0),
    "recall_weighted": ("metrics.test/recall_weighted", 1.0),
    "recall_macro": ("metrics.test/recall_macro", 1.0),
    "precision": ("metrics.test/precision_weighted", 1.0),
    "recall": ("metrics.test/recall_weighted", 1.0),
    "f1": ("metrics.test/f1_weighted", 1.0),
    "val_accuracy": ("metrics.val/accuracy", 1.0),
    "params_m": ("metrics.params/total", 1e-6),
    "train_min": ("metrics.time/train_s", 1 / 60),
    "latency_mean_ms": ("metrics.latency/b1_mean_ms", 1.0),
    "latency_min_ms": ("metrics.latency/b1_min_ms", 1.0),
    "latency_max_ms": ("metrics.latency/b1_max_ms", 1.0),
}
_LOWER_IS_BETTER = re.compile(r"(_ms|_s|_min|params_m|gmacs|seconds|loss|ece)")

# CAM quality scores: which direction is better (ROAD's sign depends on its variant).
CAM_SCORES = {
    "pointing_game": True,
    "energy_in_mask": True,
    "iou": True,
    "drop": True,
    "road": None,
    "seconds_per_image": False,
}


def _from_runs(runs: pd.DataFrame, columns: tuple[Column, ...]) -> tuple[pd.DataFrame, dict]:
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


def _ids(runs: pd.DataFrame, all_runs: bool) -> tuple[tuple[Column, ...], pd.DataFrame]:
    columns = _ID + (_RUN if all_runs else ())
    runs = runs.copy()
    if all_runs:
        runs["run_id"] = runs["run_id"].str[:8]
        runs["start_time"] = pd.to_datetime(runs["start_time"]).dt.strftime("%Y-%m-%d %H:%M")
    return columns, runs


def summary_table(
    runs: pd.DataFrame,
    *,
    sort: str = "accuracy",
    paired: dict | None = None,
    all_runs: bool = False,
) -> pd.DataFrame:
    """The summary's rows (see :func:`build_table`); kept for callers that want a frame."""
    return _summary(runs, sort=sort, paired=paired, all_runs=all_runs).frame


def _summary(runs, *, sort="accuracy", paired=None, all_runs=False, **_) -> Board:
    if paired:
        verdicts = {
            cell: "✓" if v["not_worse_than_best"] else ""
            for analysis in paired.values()
            for cell, v in analysis["cells"].items()
        }
        runs = runs.assign(
            **{"analysis.not_worse_than_best": runs["tags.medbench.cell"].map(verdicts)}
        )
    ids, runs = _ids(runs, all_runs)
    frame, meta = _from_runs(runs, ids + SUMMARY)
    low, high = runs.get("metrics.test/accuracy_ci_low"), runs.get("metrics.test/accuracy_ci_high")
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
    return _sorted(board, sort)


def _simple(name: str, columns: tuple[Column, ...], default_sort: str):
    def build(runs, *, sort=None, all_runs=False, **_) -> Board:
        ids, runs = _ids(runs, all_runs)
        frame, meta = _from_runs(runs, ids + columns)
        return _sorted(Board(name, frame, meta, ["dataset"]), sort or default_sort)

    return build


def _latency(runs, *, sort=None, all_runs=False, **_) -> Board:
    """Like the brain paper's Table 6: batch-1 prediction times, and the throughput at the
    largest batch measured."""
    sizes = [int(m.group(1)) for c in runs.columns if (m := _THROUGHPUT.match(c))]
    columns = LATENCY
    if sizes:
        n = max(sizes)
        columns += (Column(f"b{n}_img_per_s", f"metrics.latency/b{n}_img_per_s", True, 1.0, 1),)
    return _simple("latency", columns, "mean_ms")(runs, sort=sort, all_runs=all_runs)


_THROUGHPUT = re.compile(r"^metrics\.latency/b(\d+)_img_per_s$")


def _classes(runs, *, all_runs=False, **_) -> Board:
    """Like the brain paper's Table 4: per model and class P/R/F1, then the weighted
    average and the accuracy."""
    ids, runs = _ids(runs, all_runs)
    id_frame, id_meta = _from_runs(runs, ids)
    pattern = re.compile(r"^metrics\.test/(.+)/(precision|recall|f1|support)$")
    classes = sorted({m.group(1) for c in runs.columns if (m := pattern.match(c))})
    rows = []
    for i, run in runs.iterrows():
        base = id_frame.loc[i].to_dict()
        for label in classes:
            values = {
                k: run.get(f"metrics.test/{label}/{k}") for k in ("precision", "recall", "f1")
            }
            if all(pd.isna(v) for v in values.values()):
                continue  # a class of another dataset
            rows.append({**base, "class": label, **values,
                         "support": run.get(f"metrics.test/{label}/support")})  # fmt: skip
        nan = float("nan")
        weighted = {k: run.get(f"metrics.test/{k}_weighted") for k in ("precision", "recall", "f1")}
        rows.append({**base, "class": "weighted avg", **weighted, "support": nan})
        rows.append({**base, "class": "accuracy", "precision": nan, "recall": nan,
                     "f1": run.get("metrics.test/accuracy"), "support": nan})  # fmt: skip
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
    rows = []
    for ref in references.rows:
        matches = runs
        for key in ("dataset", "backbone", "strategy"):
            wanted = getattr(ref, key)
            if wanted is not None:
                matches = matches[matches[f"tags.medbench.{key}"] == wanted]
        targets = [run for _, run in matches.iterrows()] or [None]
        for run in targets:
            where = {
                key: (run[f"tags.medbench.{key}"] if run is not None else getattr(ref, key) or "–")
                for key in ("dataset", "backbone", "strategy")
            }
            for metric, paper in ref.values.items():
                source, scale = REFERENCE_METRICS.get(metric, ("", 1.0))
                ours = float("nan")
                if run is not None and source in run.index and not pd.isna(run[source]):
                    ours = float(run[source]) * scale
                rows.append({**where, "metric": metric, "paper": paper, "ours": ours,
                             "diff": ours - paper, "note": ref.note})  # fmt: skip
    meta = {c.name: c for c in _ID} | {
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
    ids, runs = _ids(runs, all_runs)
    id_frame, id_meta = _from_runs(runs, ids)
    pattern = re.compile(r"^metrics\.cam/([^/]+)/([a-z_]+)$")
    methods = sorted({m.group(1) for c in runs.columns if (m := pattern.match(c))})
    scores = [s for s in CAM_SCORES if any(f"metrics.cam/{m}/{s}" in runs for m in methods)]
    rows = []
    for i, run in runs.iterrows():
        for method in methods:
            values = {s: run.get(f"metrics.cam/{method}/{s}", float("nan")) for s in scores}
            if all(pd.isna(v) for v in values.values()):
                continue
            rows.append({**id_frame.loc[i].to_dict(), "method": method, **values})
    meta = {**id_meta, "method": Column("method", label=True, higher_is_better=None)}
    meta |= {s: Column(s, higher_is_better=CAM_SCORES[s], digits=3) for s in scores}
    frame = pd.DataFrame(rows, columns=list(meta))
    board = Board("explain", frame, meta, ["dataset", "backbone", "strategy"])
    board.notes.append("random and center: maps that know nothing, scored alike (chance level)")
    return board


def _trials(runs, *, all_runs=False, **_) -> Board:
    ids, runs = _ids(runs, all_runs)
    frame, meta = _from_runs(
        runs,
        (
            *ids,
            Column("trials", "metrics.tune/trials", None, digits=0),
            Column("complete", "metrics.tune/trials_complete", None, digits=0),
            Column("pruned", "metrics.tune/trials_pruned", None, digits=0),
            Column("failed", "metrics.tune/trials_failed", None, digits=0, optional=True),
            Column("best_trial", "metrics.tune/best_trial", None, digits=0),
            Column("best_value", "metrics.tune/best_value"),
        ),
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


TABLES: dict[str, Callable[..., Board]] = {
    "summary": _summary,
    "classes": _classes,
    "cost": _simple("cost", COST, "accuracy"),
    "latency": _latency,
    "compare": _compare,
    "explain": _explain,
    "trials": _trials,
}


def build_table(name: str, runs: pd.DataFrame, **options) -> Board:
    """Build table ``name`` from cell runs; ``options``: ``sort``, ``paired``, ``references``,
    ``all_runs``."""
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
        c.source.removeprefix("metrics."): n
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


def best_mask(board: Board) -> pd.DataFrame:
    """True where a value is the best of its column within its group (ties all marked)."""
    frame = board.frame
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    groups = [g for g in board.groups if g in frame]
    for name, col in board.columns.items():
        if col.higher_is_better is None or name not in frame:
            continue
        values = pd.to_numeric(frame[name], errors="coerce")
        keys = [frame[g] for g in groups] if groups else [pd.Series(0, index=frame.index)]
        best = values.groupby(keys).transform("max" if col.higher_is_better else "min")
        counted = values.groupby(keys).transform("count")
        mask[name] = (values == best) & values.notna() & (counted > 1)
    return mask


def format_cell(value: object, column: Column) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        if column.digits < 0:
            return f"{value:.4g}"
        return f"{value:.{column.digits}f}" if column.digits else f"{value:.0f}"
    return str(value)


def cell_texts(board: Board) -> pd.DataFrame:
    """Every value as shown: units' digits, a dash for missing."""
    return board.frame.apply(lambda s: s.map(lambda v: format_cell(v, board.columns[s.name])))


def format_table(board: Board | pd.DataFrame, fmt: str) -> str:
    """Render as markdown, latex (booktabs), csv, json or html text; the best value per
    column (within its group) is bold in markdown, LaTeX and HTML."""
    if isinstance(board, pd.DataFrame):  # a summary frame
        meta = {c.name: c for c in _ID + _RUN + SUMMARY}
        board = Board("summary", board, {k: meta[k] for k in board.columns}, ["dataset"])
    frame = board.frame
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2, force_ascii=False) + "\n"
    if fmt not in ("markdown", "latex", "html"):
        raise MedbenchError(f"unknown format '{fmt}': expected one of {list(FORMATS)}.")
    texts, best = cell_texts(board), best_mask(board)
    left = [board.columns[n].is_label for n in frame.columns]
    if fmt == "markdown":
        shown = texts.where(~best, "**" + texts + "**")
        align = ["left" if lf else "right" for lf in left]
        return shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"
    if fmt == "latex":
        return _latex(board, texts, best, left)
    return _html(board, texts, best, left)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "≈": r"$\approx$", "✓": r"\checkmark",
                  "–": "--", "−": "$-$"}  # fmt: skip


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex(board: Board, texts: pd.DataFrame, best: pd.DataFrame, left: list[bool]) -> str:
    spec = "".join("l" if lf else "r" for lf in left)
    lines = [
        r"% needs \usepackage{booktabs} (and amssymb for \checkmark)",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
    ]
    lines.append(" & ".join(_tex(c) for c in texts.columns) + r" \\")
    lines.append(r"\midrule")
    for i in texts.index:
        cells = [
            f"\\textbf{{{_tex(texts.at[i, c])}}}" if best.at[i, c] else _tex(texts.at[i, c])
            for c in texts.columns
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _html(board: Board, texts: pd.DataFrame, best: pd.DataFrame, left: list[bool]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in texts.columns)
    body = []
    for i in texts.index:
        cells = []
        for c, lf in zip(texts.columns, left, strict=True):
            text = html.escape(texts.at[i, c])
            text = f"<b>{text}</b>" if best.at[i, c] else text
            cells.append(f'<td class="{"label" if lf else "num"}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="medbench" data-table="{board.name}">\n<thead><tr>{head}</tr></thead>\n'
        "<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"
    )
