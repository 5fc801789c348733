"""``medbench leaderboard``: the comparison table of a suite's cells."""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli._common import TRACKING_HELP, resolve_suite_name


def leaderboard(
    suite_or_experiment: str | None = typer.Argument(
        None, help="Suite file or experiment name (default: the only suite with results)."
    ),
    format_: str = typer.Option("table", "--format", help="table, markdown, csv or json."),
    output: Path | None = typer.Option(None, help="Write to this file instead of the terminal."),
    sort: str = typer.Option("accuracy", help="Column or metric to rank by, best first."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Rank a suite's finished cells: accuracy, F1, parameters, training time."""
    from benchmark import track
    from benchmark.console import console, render_leaderboard
    from benchmark.errors import MedbenchError
    from benchmark.leaderboard import (
        FORMATS,
        LEAKS_HELP,
        NOT_WORSE_HELP,
        format_table,
        summary_table,
    )

    if format_ not in FORMATS:
        raise MedbenchError(f"unknown --format '{format_}': expected one of {list(FORMATS)}.")
    client = track.connect(tracking_uri)
    name = resolve_suite_name(client, suite_or_experiment)
    runs = track.load_cell_runs(client, name)
    if runs.empty:
        raise MedbenchError(f"suite '{name}' has no finished cells yet.")
    paired = track.load_suite_analysis(client, name, "paired_tests.json")
    table = summary_table(runs, sort=sort, paired=paired)
    if format_ == "table" and output is None:
        render_leaderboard(table, title=f"{name}: {len(table)} cells, test split")
        if paired:
            console.print(NOT_WORSE_HELP, style="dim")
        if "test_leaks" in table:
            console.print(f"[bold red]warning:[/] {LEAKS_HELP}")
        return
    text = format_table(table, "markdown" if format_ == "table" else format_)
    if output is None:
        console.out(text, end="", highlight=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        console.print(f"wrote {output}")
