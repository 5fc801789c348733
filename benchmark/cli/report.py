"""``medbench report``: the suite's tables and figures as one HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli._common import TRACKING_HELP, resolve_suite_name


def report(
    suite_or_experiment: str | None = typer.Argument(
        None, help="Suite file or experiment name (default: the only suite with results)."
    ),
    output: Path = typer.Option(..., help="Folder for index.html and figures/."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Write a self-contained HTML report: every table, the papers' figures, CAM galleries."""
    from benchmark import track
    from benchmark.console import console
    from benchmark.errors import MedbenchError
    from benchmark.report import write_report

    store = track.connect(tracking_uri)
    name = resolve_suite_name(store, suite_or_experiment)
    if store.cell_runs(name).empty:
        raise MedbenchError(f"suite '{name}' has no finished cells yet.")
    references, description = None, ""
    path = Path(suite_or_experiment) if suite_or_experiment else None
    if path is not None and path.is_file():
        from benchmark.suite import load_suite

        spec = load_suite(path)
        references, description = spec.references, spec.description
    written = write_report(store, name, output, references=references, description=description)
    for line in written.skipped:
        console.print(f"[dim]left out: {line}[/]")
    console.print(f"wrote {written.page} ({len(written.figures)} figures, also on the summary run)")
