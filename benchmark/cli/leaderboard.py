"""``medbench leaderboard``: a suite's cells as the tables papers print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import TRACKING_HELP, resolve_suite
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.leaderboard import Board


def leaderboard(
    suite_or_experiment: str | None = typer.Argument(
        None, help="Suite file or experiment name (default: the only suite with results)."
    ),
    table_: str = typer.Option(
        "summary",
        "--table",
        help="summary, classes, cost, latency, compare (needs the suite file), explain, trials.",
    ),
    format_: str = typer.Option(
        "table", "--format", help="table, markdown, latex, csv, json or html."
    ),
    output: Path | None = typer.Option(None, help="Write to this file instead of the terminal."),
    sort: str | None = typer.Option(None, help="Column or metric to rank by, best first."),
    dataset: str | None = typer.Option(None, help="Only this dataset's cells."),
    latest: bool = typer.Option(
        True, "--latest/--all-runs", help="The newest run of each cell, or every finished run."
    ),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Print a suite's results as a paper-style table; best values in bold."""
    from benchmark import track
    from benchmark.errors import MedbenchError
    from benchmark.leaderboard import FORMATS, format_table, load_board

    if format_ not in FORMATS:
        raise MedbenchError(f"unknown --format '{format_}': expected one of {list(FORMATS)}.")
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
