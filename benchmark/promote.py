"""Choosing a suite's champions: per dataset, the best finished cell by one test metric,
ties broken by the narrower confidence interval, then by the lower batch-1 latency."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from benchmark.errors import MedbenchError
from benchmark.metrics import get_metric, higher_is_better
from benchmark.track import SHA_TAG, TAG, metric_column, tag_column

__all__ = [
    "Choice",
    "choose_champions",
    "model_card",
    "model_name",
    "version_tags",
]

LATENCY = "latency/b1_mean_ms"


@dataclass(frozen=True)
class Choice:
    """One dataset's decision: every cell with why it was or was not chosen."""

    dataset: str
    metric: str
    candidates: pd.DataFrame  # cell, run_id, status, value, ci_width, latency_ms, note
    winner: pd.Series | None  # the chosen run's row of the runs table


def choose_champions(runs: pd.DataFrame, *, metric: str) -> list[Choice]:
    """``runs`` (the newest run of each cell, any status, from ``Store.cell_runs``) →
    one :class:`Choice` per dataset. Failed or unfinished runs are never chosen."""
    if runs.empty:
        raise MedbenchError("the suite has no cell runs yet: run `medbench run SUITE` first.")
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
    choices = []
    for dataset, group in runs.groupby(tag_column("dataset"), sort=True):
        rows = [_candidate(row, column) for _, row in group.iterrows()]
        table = pd.DataFrame(rows, index=group.index)
        eligible = table[table["note"] == ""]
        winner = None
        if not eligible.empty:
            sign = -1 if better else 1
            order = eligible.assign(key=sign * eligible["value"]).sort_values(
                ["key", "ci_width", "latency_ms"], kind="stable"
            )
            best = order.index[0]
            table.loc[best, "note"] = "chosen"
            winner = group.loc[best]
        choices.append(Choice(dataset=str(dataset), metric=metric, candidates=table, winner=winner))
    return choices


def _candidate(row: pd.Series, column: str) -> dict:
    metric = column.removeprefix("metrics.")
    value = _number(row.get(column))
    low, high = _number(row.get(f"{column}_ci_low")), _number(row.get(f"{column}_ci_high"))
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
        "latency_ms": _number(row.get(metric_column(LATENCY)), default=math.inf),
        "note": note,
    }


def _number(value: object, default: float = math.nan) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number


def model_name(suite: str, dataset: str) -> str:
    """``{suite}-{dataset}`` with characters a registry name cannot hold replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{suite}-{dataset}")


def version_tags(winner: pd.Series, *, metric: str, weights_sha256: str) -> dict[str, str]:
    """What the registered version records: where it came from and how it scored."""
    tags = {
        TAG + key: str(winner.get(tag_column(key), ""))
        for key in ("suite", "cell", "dataset", "backbone", "strategy", "config_hash")
    }
    tags |= {TAG + "metric": metric, SHA_TAG: weights_sha256}
    for column, value in winner.items():
        name = str(column).removeprefix("metrics.")
        if name.startswith("test/") and name.count("/") == 1 and not pd.isna(value):
            tags[name] = f"{float(value):.6g}"
    return tags


_CARD_SCORES = ("accuracy", "balanced_accuracy", "f1_weighted", "f1_macro", "auroc_macro",
                "mcc", "ece")  # fmt: skip
LIMITS = (
    "For research use only. Not a medical device: it is not cleared for diagnosis, and every "
    "prediction needs a qualified clinician's review. Its scores hold for images like its test "
    "split (same source, scanner, preprocessing and class balance); they say nothing of other "
    "hospitals, devices or populations until it is evaluated there."
)


def model_card(
    winner: pd.Series,
    *,
    metric: str,
    splits: dict[str, dict] | None = None,
    verdict: dict | None = None,
) -> str:
    """The registered version's description (markdown): what it was trained on, how, how it
    scored (with 95 % intervals) and its limits. ``splits``: per split (train, validation,
    test) ``{"num_rows": n, "classes": {label: n}}``; ``verdict``: the cell's paired-test
    result (``not_worse_than_best``, ``p_vs_best``) from the suite's summary."""

    def tag(key: str) -> str:
        value = winner.get(tag_column(key))
        return "?" if value is None or pd.isna(value) or value == "" else str(value)

    def number(key: str) -> float:
        return _number(winner.get(metric_column(key)))

    lines = [f"# {tag('suite')}: {tag('cell')}", ""]
    lines += ["## Data", "", f"Dataset `{tag('dataset')}`."]
    if splits:
        classes = sorted({c for split in splits.values() for c in split.get("classes", {})})
        lines += ["", "| split | images | " + " | ".join(classes) + " |",
                  "|---|---:|" + "---:|" * len(classes)]  # fmt: skip
        for name, split in splits.items():
            counts = [str(split.get("classes", {}).get(c, 0)) for c in classes]
            lines.append(f"| {name} | {split.get('num_rows', '?')} | " + " | ".join(counts) + " |")
    else:
        sizes = [f"{s} {number(f'data/{s}_images'):.0f}" for s in ("train", "val", "test")
                 if not math.isnan(number(f"data/{s}_images"))]  # fmt: skip
        lines += ["", "Images: " + ", ".join(sizes) + "." if sizes else ""]
    leaks = number("data/test_leaks")
    if not math.isnan(leaks):
        dropped = number("data/dropped_leaks")
        lines += ["", f"Audit: {leaks:.0f} test images duplicate a training or validation image"
                  + (f" ({dropped:.0f} dropped from the test split)" if dropped > 0 else "")
                  + "."]  # fmt: skip
    lines += ["", "## Training", "", f"Backbone `{tag('backbone')}`, strategy `{tag('strategy')}`."]
    epochs = winner.get("params.train.epochs")
    if epochs is not None and not pd.isna(epochs):
        lines.append(f"Epochs: {epochs}.")
    best = {str(k).removeprefix("params.best."): v for k, v in winner.items()
            if str(k).startswith("params.best.") and not pd.isna(v)}  # fmt: skip
    if best:
        lines.append(
            "Tuned parameters: " + ", ".join(f"{k} = {v}" for k, v in sorted(best.items())) + "."
        )
    lines += ["", "## Test scores", "", "| metric | value | 95 % interval |", "|---|---:|---|"]
    for key in _CARD_SCORES:
        title = get_metric(f"test/{key}").title
        label = title[0].upper() + title[1:]  # the catalogue's name, as a table row starts
        value = number(f"test/{key}")
        if math.isnan(value):
            continue
        low, high = number(f"test/{key}_ci_low"), number(f"test/{key}_ci_high")
        interval = "" if math.isnan(low) or math.isnan(high) else f"{low:.3f}–{high:.3f}"
        lines.append(f"| {label} | {value:.3f} | {interval} |")
    lines += ["", f"Chosen by `{metric}` among the suite's cells of this dataset."]
    if verdict is not None:
        if verdict.get("not_worse_than_best"):
            lines.append("≈best: not significantly worse than the best cell (McNemar, Holm).")
        else:
            p = _number(verdict.get("p_vs_best"))
            shown = "" if math.isnan(p) else f" (p = {p:.3g})"
            lines.append(f"Significantly worse than the best cell{shown}.")
    latency = number(LATENCY)
    if not math.isnan(latency):
        device = tag("device")
        lines += ["", f"Latency: {latency:.1f} ms per image at batch 1 (model only, on {device})."]
    lines += ["", "## Limits", "", LIMITS, ""]
    return "\n".join(lines)
