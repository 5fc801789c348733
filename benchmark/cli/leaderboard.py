"""``medbench leaderboard``: a suite's cells as the tables papers print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import SuiteOrExperiment, Tracking, resolve_suite
from benchmark.console import console, print_table
from benchmark.errors import MedbenchError
from benchmark.leaderboard._names import TableFormat, TableName

if TYPE_CHECKING:
    from benchmark.leaderboard import Board


def leaderboard(
    suite_or_experiment: SuiteOrExperiment = None,
    table_: Annotated[
        TableName,
        typer.Option(
            "--table", help="Which table (compare and ranks read the suite file's references)."
        ),
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
    export: Annotated[
        tuple[str, Path] | None,
        typer.Option(
            metavar="FORMAT DIR",
            help="Instead of a table, write each cell's test scores for another tool: "
            "`medmnist DIR`: per cell and seed, the result file MedMNIST's Evaluator reads.",
        ),
    ] = None,
    tracking_uri: Tracking = None,
) -> None:
    """Print a suite's results as a paper-style table; best values in bold."""
    from benchmark import track
    from benchmark.leaderboard import format_table, load_board
    from benchmark.settings import writable_folder

    if output is not None:
        writable_folder(output.parent, what="the folder of --output", keep=False)
    if export is not None:
        if export[0] != "medmnist":
            raise MedbenchError(f"--export {export[0]}: unknown format; expected medmnist.")
        writable_folder(export[1], what="the folder of --export", keep=False)
    store = track.connect(tracking_uri)
    name, spec = resolve_suite(store, suite_or_experiment)
    if export is not None:
        _export(store, name, export[1], dataset=dataset, latest=latest)
        return
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


def _export(store, suite: str, folder: Path, *, dataset: str | None, latest: bool) -> None:
    """MedMNIST's result files of the suite's medmnist cells under ``folder``."""
    from benchmark.leaderboard import export_medmnist

    exported = export_medmnist(store, suite, folder, dataset=dataset, latest=latest)
    for reason in exported.skipped:
        console.print(f"left out: {reason}", style="yellow", highlight=False)
    console.print(f"wrote {len(exported.files)} MedMNIST result files to {folder}")


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
