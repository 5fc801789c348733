"""``medbench leaderboard``: a suite's cells as the tables papers print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import SuiteOrExperiment, Tracking, resolve_suite
from benchmark.console import console, print_table
from benchmark.leaderboard._names import TableFormat, TableName

if TYPE_CHECKING:
    from benchmark.leaderboard import Board


def leaderboard(
    suite_or_experiment: SuiteOrExperiment = None,
    table_: Annotated[
        TableName, typer.Option("--table", help="Which table (compare needs the suite file).")
    ] = "summary",
    format_: Annotated[TableFormat, typer.Option("--format", help="How it is written.")] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of the terminal.")
    ] = None,
    sort: Annotated[
        str | None, typer.Option(help="Column or metric to rank by, best first.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's cells.")] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest/--all-runs", help="The newest run of each cell, or every finished run."
        ),
    ] = True,
    tracking_uri: Tracking = None,
) -> None:
    """Print a suite's results as a paper-style table; best values in bold."""
    from benchmark import track
    from benchmark.leaderboard import format_table, load_board

    if output is not None:
        from benchmark.settings import writable_folder

        writable_folder(output.parent, what="the folder of --output", keep=False)
    store = track.connect(tracking_uri)
    name, spec = resolve_suite(store, suite_or_experiment)
    board = load_board(store, name, table=table_, dataset=dataset, latest=latest, sort=sort,
                       references=spec.references if spec else None)  # fmt: skip
    if format_ == "table" and output is None:
        render_leaderboard(board, title=f"{name}: {table_}, {len(board.frame)} rows, test split")
        return
    text = format_table(board, "markdown" if format_ == "table" else format_)
    if output is None:
        console.out(text, end="", highlight=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        console.print(f"wrote {output}")


def render_leaderboard(board: Board, *, title: str) -> None:
    """A table with the best value of each column (within its group) in bold green."""
    from benchmark.leaderboard import best_mask, cell_texts

    texts, best = cell_texts(board), best_mask(board)
    out = Table(title=title, title_justify="left")
    for name in texts.columns:
        out.add_column(name, justify="left" if board.columns[name].is_label else "right")
    for i in texts.index:
        out.add_row(
            *(
                f"[bold green]{escape(texts.at[i, c])}[/]"
                if best.at[i, c]
                else escape(texts.at[i, c])
                for c in texts.columns
            )
        )
    print_table(out)
    for note in board.notes:
        style = "bold red" if note.startswith("test_leaks") else "dim"
        console.print(note, style=style, highlight=False)
