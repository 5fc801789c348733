"""MLflow cell runs → pandas tables like the papers print, in several text formats."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from benchmark.errors import MedbenchError

__all__ = ["COLUMNS", "FORMATS", "LEAKS_HELP", "Column", "format_table", "summary_table"]

FORMATS = ("table", "markdown", "csv", "json")


@dataclass(frozen=True)
class Column:
    name: str
    source: str  # a column of the MLflow runs DataFrame
    higher_is_better: bool | None = True  # None: not ranked (labels, counts)
    scale: float = 1.0
    digits: int = 4
    optional: bool = False  # left out when no run has it
    warning: bool = False  # left out unless some run has a non-zero value

    @property
    def is_label(self) -> bool:
        return self.source.startswith(("tags.", "analysis."))


COLUMNS = (
    Column("dataset", "tags.medbench.dataset", None),
    Column("backbone", "tags.medbench.backbone", None),
    Column("strategy", "tags.medbench.strategy", None),
    Column("accuracy", "metrics.test/accuracy"),
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
NOT_WORSE_HELP = "≈best: not significantly worse than the best cell of its dataset (McNemar, Holm)"
LEAKS_HELP = (
    "test_leaks: test images that duplicate, or share a patient with, training or validation "
    "images; their scores may be inflated (`medbench data audit`; `audit.on_leak: drop`)"
)


def summary_table(
    runs: pd.DataFrame, *, sort: str = "accuracy", paired: dict | None = None
) -> pd.DataFrame:
    """One row per cell run, best first by ``sort`` (a column name or ``test/<metric>``).

    ``paired`` is the suite's ``paired_tests.json`` per dataset; cells not significantly
    worse than their dataset's best are marked ✓.
    """
    if paired:
        verdicts = {
            cell: "✓" if v["not_worse_than_best"] else ""
            for analysis in paired.values()
            for cell, v in analysis["cells"].items()
        }
        runs = runs.assign(
            **{"analysis.not_worse_than_best": runs["tags.medbench.cell"].map(verdicts)}
        )
    table = pd.DataFrame(index=runs.index)
    for col in COLUMNS:
        if col.warning and not (runs.get(col.source, pd.Series(dtype=float)).fillna(0) > 0).any():
            continue
        if col.source in runs:
            values = runs[col.source]
            table[col.name] = values if col.is_label else values * col.scale
        elif not col.optional:  # a metric no run has logged yet shows as missing, not a crash
            table[col.name] = float("nan")
    key = _sort_column(sort)
    ascending = not next(c.higher_is_better for c in COLUMNS if c.name == key)
    return table.sort_values(key, ascending=ascending, na_position="last").reset_index(drop=True)


def _sort_column(sort: str) -> str:
    names = {c.name: c.name for c in COLUMNS if c.higher_is_better is not None}
    names |= {
        c.source.removeprefix("metrics."): c.name for c in COLUMNS if c.higher_is_better is not None
    }
    if sort not in names:
        raise MedbenchError(f"cannot sort by '{sort}': expected one of {sorted(names)}.")
    return names[sort]


def format_cell(value: object, column: Column) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if isinstance(value, float):
        return f"{value:.{column.digits}f}" if column.digits else f"{value:.0f}"
    return str(value)


def format_table(table: pd.DataFrame, fmt: str) -> str:
    """Render as ``markdown``, ``csv`` or ``json`` text (``table`` is drawn by the console)."""
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=2)
    if fmt == "markdown":
        columns = {c.name: c for c in COLUMNS}
        shown = table.apply(lambda s: s.map(lambda v: format_cell(v, columns[s.name])))
        align = ["left" if columns[n].is_label else "right" for n in table.columns]
        return shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"
    raise MedbenchError(f"unknown format '{fmt}': expected one of {list(FORMATS)}.")
