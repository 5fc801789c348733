"""``medbench report``: the suite's tables and figures as one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from benchmark.cli._common import SuiteOrExperiment, Tracking, resolve_suite


def report(
    output: Annotated[Path, typer.Option(help="Folder for index.html and figures/.")],
    suite_or_experiment: SuiteOrExperiment = None,
    tracking_uri: Tracking = None,
) -> None:
    """Write a self-contained HTML report: every table, the papers' figures, CAM galleries."""
    from benchmark import track
    from benchmark.console import console
    from benchmark.report import write_report
    from benchmark.settings import writable_folder

    writable_folder(output, what="the report folder (--output)", keep=False)
    store = track.connect(tracking_uri)
    name, spec = resolve_suite(store, suite_or_experiment)
    written = write_report(store, name, out=output, references=spec.references if spec else None,
                           description=spec.description if spec else "")  # fmt: skip
    for line in written.skipped:
        console.print(f"[dim]left out: {line}[/]")
    console.print(f"wrote {written.page} ({len(written.figures)} figures, also on the summary run)")
