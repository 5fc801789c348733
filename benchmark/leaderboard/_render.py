"""A table as text: a value's digits, the best of each column marked, six formats."""

from __future__ import annotations

import html
import math

import pandas as pd

from benchmark.errors import MedbenchError
from benchmark.leaderboard._columns import BUDGET, ID, RUN, SUMMARY, Board, Column
from benchmark.leaderboard._names import FORMATS

__all__ = ["best_mask", "cell_texts", "format_cell", "format_table"]


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
    texts = board.frame.apply(lambda s: s.map(lambda v: format_cell(v, board.columns[s.name])))
    return texts.astype(object if board.frame.empty else texts.dtypes)  # an empty table: text


def format_table(board: Board | pd.DataFrame, fmt: str) -> str:
    """Render as markdown, latex (booktabs), csv, json or html text; the best value per
    column (within its group) is bold in markdown, LaTeX and HTML."""
    if isinstance(board, pd.DataFrame):  # a summary frame
        meta = {c.name: c for c in ID + BUDGET + RUN + SUMMARY}
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
                  "–": "--", "−": "$-$", "±": r"$\pm$"}  # fmt: skip


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
