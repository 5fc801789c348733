"""``medbench run``: train and evaluate every cell of a suite."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from benchmark.cli._common import TRACKING_HELP


def run(
    suite: Path = typer.Argument(..., help="Suite YAML file."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a setting, e.g. --set train.epochs=3 (repeatable)."
    ),
    trials: int | None = typer.Option(
        None,
        min=1,
        help="Optuna trials per cell (sets tune.trials; default space if none).",
    ),
    devices: str = typer.Option("auto", help="auto (CUDA if present, else CPU), cpu, or cuda:N."),
    resume: bool = typer.Option(
        True, help="Skip cells already FINISHED with the same configuration."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and stop."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
    storage: str | None = typer.Option(
        None,
        help="Optuna storage URL (default: MEDBENCH_STORAGE, else sqlite:///mlruns/optuna.db).",
    ),
) -> None:
    """Train and evaluate every dataset × backbone × strategy cell of SUITE, into MLflow."""
    from benchmark.console import RichReporter, console, render_cells
    from benchmark.errors import MedbenchError
    from benchmark.runner import run_suite
    from benchmark.suite import expand_cells, load_suite

    overrides = [*set_, *([f"tune.trials={trials}"] if trials is not None else [])]
    spec = load_suite(suite, overrides=overrides)
    if dry_run:
        render_cells(expand_cells(spec))
        return
    if "," in devices:
        raise MedbenchError(
            f"--devices {devices}: running cells on several devices at once is not supported "
            "yet; pass one device (auto, cpu or cuda:N)."
        )
    start = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends runs as KILLED, like Ctrl-C
    with RichReporter() as reporter:
        outcomes = run_suite(
            spec,
            tracking_uri=tracking_uri,
            storage=storage,
            device=devices,
            resume=resume,
            reporter=reporter,
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "failed")}
    console.print(
        f"{spec.name}: {counts['finished']} finished, {counts['skipped']} skipped, "
        f"{counts['failed']} failed in {time.perf_counter() - start:.1f}s. "
        f"Results: medbench leaderboard {suite}",
    )
    if counts["failed"]:
        raise typer.Exit(code=1)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
