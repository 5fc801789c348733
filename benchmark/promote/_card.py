"""What a promoted version records: its registry name, its tags (where it came from, how it
scored, the hash of its weights) and its model card."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pandas as pd

from benchmark.metrics import get_metric
from benchmark.promote._choose import LATENCY, as_number
from benchmark.track import SHA_TAG, TAG, metric_column, tag_column


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
        return as_number(winner.get(metric_column(key)))

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
    lines += _beyond(tag, number)
    lines += ["", f"Chosen by `{metric}` among the suite's cells of this dataset."]
    if verdict is not None:
        if verdict.get("not_worse_than_best"):
            lines.append(
                "≈best: not significantly worse than the best cell (McNemar on accuracy; "
                "AUROC for binary and multi-label tasks; Holm)."
            )
        else:
            p = as_number(verdict.get("p_vs_best"))
            shown = "" if math.isnan(p) else f" (p = {p:.3g})"
            lines.append(f"Significantly worse than the best cell{shown}.")
    latency = number(LATENCY)
    if not math.isnan(latency):
        device = tag("device")
        lines += ["", f"Latency: {latency:.1f} ms per image at batch 1 (model only, on {device})."]
    lines += ["", "## Limits", "", LIMITS, ""]
    return "\n".join(lines)


def _beyond(tag: Callable[[str], str], number: Callable[[str], float]) -> list[str]:
    """The card's lines on the tests beyond the test split, where the cell had them: the
    calibration it carries, its scores on external datasets, its errors under corruptions."""
    lines = []
    temperature = number("calibration/temperature")
    if not math.isnan(temperature):
        before, after = number("test/ece_uncalibrated"), number("test/ece")
        lines += [
            "",
            f"Confidences calibrated by a temperature of {temperature:.3g} fitted on validation "
            f"(applied when predicting): test ECE {before:.3f} → {after:.3f}.",
        ]
    external = [name for name in tag("external").split(",") if name and name != "?"]
    if external:
        lines += ["", "## External validation", "", "| dataset | accuracy | 95 % interval | "
                  "drop from test |", "|---|---:|---|---:|"]  # fmt: skip
        for name in external:
            value = number(f"external/{name}/accuracy")
            low, high = (number(f"external/{name}/accuracy_ci_{e}") for e in ("low", "high"))
            interval = "" if math.isnan(low) or math.isnan(high) else f"{low:.3f}–{high:.3f}"
            drop = number(f"external/{name}/accuracy_drop")
            lines.append(f"| {name} | {value:.3f} | {interval} | {drop:+.3f} |")
    corrupted = number("corrupt/balanced_error")
    if not math.isnan(corrupted):
        clean = number("corrupt/clean_balanced_error")
        text = f"Under corruptions ({tag('corruptions').replace(',', ', ')}): balanced error "
        text += f"{corrupted:.3f} on average, {clean:.3f} clean"
        be, rbe = number("corrupt/be"), number("corrupt/rbe")
        if not math.isnan(be):
            text += f"; BE {be:.3f}, rBE {rbe:.3f} against the suite's reference cell"
        lines += ["", text + "."]
    return lines
