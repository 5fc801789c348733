"""The suite's HTML report: the leaderboard tables and the figures the papers print.

One self-contained ``index.html`` (figures embedded as PNG data, no script, no server),
the same figures as PNG files in ``figures/`` beside it, and on the suite's summary run.
Figures: confusion matrices of every cell in one grid, accuracy against parameters and
against latency, training and validation curves per cell, ablation bars (one backbone in
several cells), accuracy against the label budget (label efficiency), the mean ranks over
datasets beside the matrix of significant wins (ranks), the scores on the datasets tested
only (external validation: a heatmap with the drops) and against the severity of each
corruption (robustness curves), the CAM galleries and the error-overlap charts the runs
logged.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from benchmark import leaderboard, track
from benchmark.errors import MedbenchError
from benchmark.leaderboard import TABLES, build_table, efficiency_points, format_table

if TYPE_CHECKING:
    from benchmark.suite._schema import References

__all__ = ["Report", "write_report"]

CAMS_PER_CELL = 6  # figures under cams/: a gallery per method (the CAMs and LIME alike), stages


@dataclass
class Report:
    """What was written: the page, the figure files, and what had to be left out."""

    page: Path
    figures: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def write_report(
    store: track.Store,
    suite: str,
    *,
    out: Path,
    references: References | None = None,
    description: str = "",
) -> Report:
    """Write ``out/index.html`` and ``out/figures/*.png`` for ``suite``'s latest cells and
    log the figures on its summary run (under ``report/``); ``references`` adds the table
    that compares with published results."""
    runs = store.cell_runs(suite)
    if runs.empty:
        raise MedbenchError(f"suite '{suite}' has no finished cells yet.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    report = Report(page=out / "index.html")
    paired = store.suite_analysis(suite, "paired_tests.json")
    options: dict[str, dict[str, Any]] = {
        "summary": {"paired": paired}, "compare": {"references": references},
        "ranks": {"paired": paired, "references": references,
                  "pvalues": leaderboard.paired_pvalues(store, suite)},
    }  # fmt: skip
    sections, boards = [], {}
    for name in TABLES:
        if name == "compare" and references is None:
            continue
        board = boards[name] = build_table(name, runs, **options.get(name, {}))
        if board.frame.empty or (name == "trials" and board.frame["trials"].isna().all()):
            report.skipped.append(f"table {name}: nothing recorded")
            continue
        notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in board.notes)
        sections.append(f"<h2>{name}</h2>\n{format_table(board, 'html')}{notes}")

    figures = {
        "confusion_matrices": _confusion_grid(store, runs),
        "accuracy_vs_params": _scatter(
            runs, track.metric_column("params/total"), 1e-6, "parameters (M)"
        ),
        "accuracy_vs_latency": _scatter(
            runs, track.metric_column("latency/b1_mean_ms"), 1.0, "batch-1 latency (ms)"
        ),
        "training_curves": _curves(store, runs),
        "ablations": _ablations(runs),
        "label_efficiency": _efficiency(runs),
        "ranks": leaderboard.ranks_figure(boards["ranks"]),
        "external_validation": leaderboard.external_figure(runs),
        "robustness_curves": leaderboard.robustness_figure(runs),
    }
    for figure_name, figure in figures.items():
        if figure is None:
            report.skipped.append(f"figure {figure_name}: not enough data")
            continue
        path = out / "figures" / f"{figure_name}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        report.figures.append(path)
        title = figure_name.replace("_", " ")
        sections.append(f"<h2>{title}</h2>\n{_img(path.read_bytes(), title)}")
    use = _system_use(store, runs)
    if use:
        sections.append("<h2>system use</h2>\n<ul>\n" + "\n".join(use) + "\n</ul>")
    else:
        report.skipped.append("system use: no system metrics recorded")
    with tempfile.TemporaryDirectory() as downloads:
        sections += _logged_images(store, suite, runs, Path(downloads), report)

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report.page.write_text(
        _PAGE.format(
            title=html.escape(suite),
            description=html.escape(description),
            stamp=stamp,
            cells=len(runs),
            body="\n".join(sections),
        )
    )
    store.log_report(suite, out / "figures", artifact_path="report")
    return report


def _system_use(store: track.Store, runs: pd.DataFrame) -> list[str]:
    """One line per cell from MLflow's system metrics of its run: mean CPU use, peak memory,
    and for the GPU it trained on, mean use and peak memory."""
    lines = []
    for _, run in runs.iterrows():
        prefix = track.metric_column("system/")
        recorded = [str(c).removeprefix(track.metric_column("")) for c in run.index
                    if str(c).startswith(prefix) and not pd.isna(run[c])]  # fmt: skip
        if not recorded:
            continue
        device = str(run.get(track.tag_column("device"), "") or "")
        gpu = run.get(track.tag_column("nvml"))  # the GPU the cell trained on, as NVML numbers it
        if not isinstance(gpu, str):
            gpu = device.split(":", 1)[1] if device.startswith("cuda:") else None

        def history(key: str, run_id: str = run["run_id"]) -> list[float]:
            return [value for _, value in store.metric_history(run_id, key)]

        parts = []
        if cpu := history("system/cpu_utilization_percentage"):
            parts.append(f"CPU {sum(cpu) / len(cpu):.0f} % (mean)")
        if memory := history("system/system_memory_usage_megabytes"):
            parts.append(f"memory {max(memory) / 1000:.1f} GB (peak)")  # MLflow's MB: 10⁶ B
        for key in sorted(k for k in recorded if k.endswith("_utilization_percentage")):
            index = key.removeprefix("system/gpu_").split("_", 1)[0]
            if not key.startswith("system/gpu_") or (gpu is not None and index != gpu):
                continue
            use = history(key)
            held = history(f"system/gpu_{index}_memory_usage_megabytes")
            parts.append(f"GPU {index} {sum(use) / len(use):.0f} % (mean)"
                         + (f", {max(held) / 1000:.1f} GB (peak)" if held else ""))  # fmt: skip
        samples = len(cpu)
        lines.append(f"<li>{html.escape(_label(run))}: {html.escape(', '.join(parts))} "
                     f"<span class='note'>({samples} samples)</span></li>")  # fmt: skip
    return lines


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _label(run: pd.Series) -> str:
    return run[track.tag_column("cell")]


def _confusion_grid(store: track.Store, runs: pd.DataFrame):
    matrices = []
    for _, run in runs.iterrows():
        try:
            data = json.loads(store.artifact_text(run["run_id"], "eval/confusion_matrix.json"))
        except Exception:  # an older run without it
            continue
        matrix = np.asarray(data["matrix"])
        if matrix.ndim == 2:  # a multi-label cell's 2 × 2 per label is not one matrix
            matrices.append((_label(run), data["classes"], matrix))
    if not matrices:
        return None
    cols = min(3, len(matrices))
    rows = math.ceil(len(matrices) / cols)
    size = 2.2 + 0.5 * max(len(c) for _, c, _ in matrices)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for ax in axes.flat[len(matrices) :]:
        ax.axis("off")
    for ax, (title, classes, matrix) in zip(axes.flat, matrices, strict=False):
        ax.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            dark = count > matrix.max() / 2
            ax.text(j, i, str(count), ha="center", va="center", color="white" if dark else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _scatter(runs: pd.DataFrame, column: str, scale: float, xlabel: str):
    if column not in runs or runs[column].isna().all():
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for dataset, group in runs.groupby(track.tag_column("dataset")):
        x, y = group[column] * scale, group[track.metric_column("test/accuracy")]
        ax.scatter(x, y, label=dataset, s=40)
        for xi, yi, name in zip(
            x, y, group[track.tag_column("backbone")] + "/" + group[track.tag_column("strategy")],
            strict=True,
        ):  # fmt: skip
            ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if (runs[column] * scale > 0).all() and (runs[column].max() / runs[column].min()) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _curves(store: track.Store, runs: pd.DataFrame):
    histories = []
    for _, run in runs.iterrows():
        curves = {
            key: store.metric_history(run["run_id"], key)
            for key in ("train/loss", "val/loss", "val/accuracy")
        }
        if any(curves.values()):
            histories.append((_label(run), curves))
    if not histories:
        return None
    cols = min(3, len(histories))
    rows = math.ceil(len(histories) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 4.2, rows * 3.2), squeeze=False)
    for ax in axes.flat[len(histories) :]:
        ax.axis("off")
    for ax, (title, curves) in zip(axes.flat, histories, strict=False):
        for key, style in (("train/loss", "-"), ("val/loss", "--")):
            if curves[key]:
                ax.plot(*zip(*sorted(curves[key]), strict=True), style, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if curves["val/accuracy"]:
            twin = ax.twinx()
            twin.plot(
                *zip(*sorted(curves["val/accuracy"]), strict=True), color="C2", label="val/accuracy"
            )
            twin.set_ylim(0, 1)
            twin.set_ylabel("val accuracy")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def _ablations(runs: pd.DataFrame):
    """Bars for each backbone run in several cells (with vs without preprocessing,
    augmentation, or another strategy)."""
    variants = runs.groupby(track.tag_column("backbone")).filter(lambda g: len(g) > 1)
    if variants.empty:
        return None
    backbones = sorted(variants[track.tag_column("backbone")].unique())
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(variants)), 4))
    ticks, labels = [], []
    position = 0.0
    for backbone in backbones:
        group = variants[variants[track.tag_column("backbone")] == backbone]
        for variant, (_, run) in enumerate(group.iterrows()):
            value = run[track.metric_column("test/accuracy")]
            ax.bar(position, value, color=f"C{variant}")
            ax.text(position, value, f"{value:.3f}", ha="center", va="bottom", fontsize=7)
            ticks.append(position)
            labels.append(
                f"{run[track.tag_column('dataset')]}\n{run[track.tag_column('strategy')]}"
            )
            position += 1
        ax.text(position - (len(group) + 1) / 2, -0.22, backbone, ha="center",
                transform=ax.get_xaxis_transform(), fontsize=9, weight="bold")  # fmt: skip
        position += 0.8
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    fig.tight_layout()
    return fig


def _efficiency(runs: pd.DataFrame):
    """Test accuracy against the label budget (log scale), a curve per backbone × strategy
    and a band for the interval of each mean across episodes; a panel per dataset and axis."""
    points = efficiency_points(runs)
    panels = list(points[points["axis"] != ""].groupby(["dataset", "axis"]))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, ((dataset, axis), group) in zip(axes.flat, panels, strict=True):
        for k, ((backbone, strategy), line) in enumerate(group.groupby(["backbone", "strategy"])):
            line = line.sort_values("budget")
            x = line["budget"] * (100 if axis == "fraction" else 1)
            ax.plot(x, line["mean"], "o-", color=f"C{k}", label=f"{backbone}/{strategy}")
            ax.fill_between(x, line["low"], line["high"], color=f"C{k}", alpha=0.2, lw=0)
        ticks = sorted(set(group["budget"] * (100 if axis == "fraction" else 1)))
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("training images per class" if axis == "shots" else "training images (%)")
        ax.set_ylabel("test accuracy")
        ax.set_title(str(dataset), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _logged_images(
    store: track.Store, suite: str, runs: pd.DataFrame, downloads: Path, report: Report
) -> list[str]:
    """The CAM galleries of the cells and the error-overlap charts of the summary run."""
    sections = []
    cams = []
    for _, run in runs.iterrows():
        paths = _pngs(store, run["run_id"], "cams")[:CAMS_PER_CELL]
        for path in paths:
            data = _download(store, run["run_id"], path, downloads)
            cams.append(f"<figure>{_img(data, path)}<figcaption>{html.escape(_label(run))}: "
                        f"{html.escape(path)}</figcaption></figure>")  # fmt: skip
    if cams:
        sections.append("<h2>CAM gallery</h2>\n" + "\n".join(cams))
    else:
        report.skipped.append("CAM gallery: the runs logged no CAMs (explain: null?)")
    summary = store.summary_run(suite)
    overlap = []
    if summary is not None:
        for path in _pngs(store, summary, "analysis"):
            if path.endswith("error_overlap.png"):
                data = _download(store, summary, path, downloads)
                overlap.append(f"<figure>{_img(data, path)}<figcaption>{html.escape(path)}"
                               "</figcaption></figure>")  # fmt: skip
    if overlap:
        sections.append("<h2>error overlap</h2>\n" + "\n".join(overlap))
    else:
        report.skipped.append("error overlap: needs two cells of a dataset")
    return sections


def _pngs(store: track.Store, run_id: str, folder: str) -> list[str]:
    return [path for path in store.artifact_files(run_id, folder) if path.endswith(".png")]


def _download(
    store: track.Store, run_id: str, path: str, downloads: Path, width: int = 900
) -> bytes:
    """A logged PNG, scaled down to ``width`` pixels for the page."""
    from PIL import Image

    local = store.download_artifact(run_id, path, folder=downloads)
    image = Image.open(local)
    if image.width <= width:
        return Path(local).read_bytes()
    image.thumbnail((width, width * image.height // image.width))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} — medbench report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; background: #fff; }}
h1 {{ margin-bottom: 0.2rem; }}
h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }}
table.medbench {{ border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }}
table.medbench th, table.medbench td {{ padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; }}
table.medbench th {{ background: #f3f5f8; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td b {{ color: #0a6b2d; }}
p.note {{ color: #666; font-size: 0.8rem; margin: 0.2rem 0; }}
img {{ max-width: 100%; }}
figure {{ display: inline-block; margin: 0.5rem; vertical-align: top; max-width: 360px; }}
figcaption {{ font-size: 0.75rem; color: #555; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{description}</p>
<p class="note">{cells} cells · generated {stamp} by medbench · best values in bold</p>
{body}
</body>
</html>
"""
