"""``medbench run`` and ``medbench worker``: train and evaluate every cell of a suite, on
one device or many, in one process or many, on one machine or several."""

from __future__ import annotations

import dataclasses
import enum
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark.cli._common import Set, Storage, Tracking
from benchmark.cli._common import SuiteFile as Suite
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.runner import Snapshot

Devices = Annotated[
    str,
    typer.Option(
        help="auto (the first GPU, else the CPU), all (one worker per GPU), cpu, or a list "
        "such as cuda:0,cuda:2."
    ),
]
Workers = Annotated[
    int | None, typer.Option(min=1, help="CPU workers (their threads share the cores).")
]
PerDevice = Annotated[int, typer.Option(min=1, help="Workers on each GPU (small models).")]
Threads = Annotated[
    int | None, typer.Option(min=1, help="Threads per worker (default: the cores, shared).")
]


class Launcher(str, enum.Enum):
    local = "local"
    ray = "ray"


def run(
    suite: Suite,
    set_: Set = None,
    trials: Annotated[
        int | None,
        typer.Option(min=1, help="Optuna trials per cell (sets tune.trials; default space)."),
    ] = None,
    devices: Devices = "auto",
    workers: Workers = None,
    workers_per_device: PerDevice = 1,
    threads: Threads = None,
    launcher: Annotated[
        Launcher, typer.Option(help="local processes, or one worker per GPU of a Ray cluster.")
    ] = Launcher.local,
    resume: Annotated[
        bool, typer.Option(help="Skip cells already FINISHED with the same configuration.")
    ] = True,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List the cells and the checks made before a run (data, weights, folders); "
            "run nothing.",
        ),
    ] = False,
    system_metrics: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds between samples of CPU, memory and GPU use in every cell and trial "
            "run; 0 for none (default: MEDBENCH_SYSTEM_METRICS, else 10).",
        ),
    ] = None,
    tracking_uri: Tracking = None,
    storage: Storage = None,
) -> None:
    """Train and evaluate every dataset × backbone × strategy cell of SUITE, into MLflow."""
    from benchmark.checks import load_checked_suite
    from benchmark.suite import expand_cells

    if system_metrics is not None:  # the workers this starts inherit it
        from benchmark.settings import OFF, set_flags

        set_flags(system_metrics=system_metrics or OFF)

    overrides = [*(set_ or []), *([f"tune.trials={trials}"] if trials is not None else [])]
    spec = load_checked_suite(suite, overrides=overrides)
    if dry_run:
        from benchmark.cli.suite import render_cells

        render_cells(expand_cells(spec))
        render_checks(spec, suite, tracking_uri=tracking_uri, storage=storage)
        return
    _execute(
        spec, suite, devices=devices, workers=workers, per_device=workers_per_device,
        threads=threads, launcher=launcher, resume=resume, tracking_uri=tracking_uri,
        storage=storage,
    )  # fmt: skip


def worker(
    suite: Suite,
    set_: Set = None,
    devices: Devices = "auto",
    workers: Workers = None,
    workers_per_device: PerDevice = 1,
    threads: Threads = None,
    tracking_uri: Tracking = None,
    storage: Storage = None,
) -> None:
    """Join a run of SUITE from this machine (with the run's --storage and --tracking-uri):
    claim its queued cells, help with the trials of running ones, until all have ended."""
    from benchmark.checks import load_checked_suite

    spec = load_checked_suite(suite, overrides=set_ or [])
    _execute(
        spec, suite, devices=devices, workers=workers, per_device=workers_per_device,
        threads=threads, launcher=Launcher.local, resume=True, tracking_uri=tracking_uri,
        storage=storage,
    )  # fmt: skip


def _execute(
    spec, suite_file: Path, *, devices: str, workers: int | None, per_device: int,
    threads: int | None, launcher: Launcher, resume: bool, tracking_uri: str | None,
    storage: str | None,
) -> None:  # fmt: skip
    from benchmark.runner._preflight import check_ready, preflight

    # everything the suite needs, checked before the stores (MLflow, Optuna) are even imported
    checks = preflight(spec, tracking=tracking_uri, storage=storage, suite_file=suite_file)
    check_ready(checks, suite=spec.name)

    from benchmark.cli._reporters import RichReporter, WorkersDisplay
    from benchmark.console import warning
    from benchmark.runner import launch, plan_slots, prepare, summarise, work

    slots = plan_slots(devices, workers=workers, per_device=per_device)
    if threads is not None:
        slots = [dataclasses.replace(s, threads=threads) for s in slots]
    start = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends runs as KILLED, like Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # even when started with Ctrl-C ignored (nohup, &)
    errors: list[str] = []
    if launcher is Launcher.ray or len(slots) > 1:
        with WorkersDisplay() as display:
            outcomes, errors = launch(
                spec, slots=slots, tracking_uri=tracking_uri, storage=storage, resume=resume,
                launcher=launcher.value, display=display, check=False,
            )  # fmt: skip
    else:
        import torch

        slot = slots[0]
        if threads is not None or workers is not None:
            torch.set_num_threads(slot.threads)
        session = prepare(spec, tracking_uri=tracking_uri, storage=storage, check=False)
        with RichReporter() as reporter:
            outcomes = work(session, device=slot.device, reporter=reporter, resume=resume)
        summarise(session)
    for message in errors:
        warning(f"worker {message}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "failed")}
    console.print(
        f"{spec.name}: {counts['finished']} finished, {counts['skipped']} skipped, "
        f"{counts['failed']} failed in {time.perf_counter() - start:.1f}s. "
        f"Results: medbench leaderboard {suite_file}",
    )
    if counts["failed"] or (errors and not counts["finished"] + counts["skipped"]):
        raise typer.Exit(code=1)


def status(
    suite: Suite,
    set_: Set = None,
    tracking_uri: Tracking = None,
    storage: Storage = None,
) -> None:
    """Where a run of SUITE stands, from its stores (wherever it runs): each cell queued,
    running (which worker, on which host and device, doing what), finished or failed."""
    from benchmark import track, tune
    from benchmark.checks import load_checked_suite
    from benchmark.runner import snapshot
    from benchmark.suite import expand_cells

    spec = load_checked_suite(suite, overrides=set_ or [])
    store = track.connect(tracking_uri)
    snap = snapshot(
        storage=tune.resolve_storage(storage),
        suite=spec.name,
        cells=expand_cells(spec),
        store=store,
        experiment_id=store.experiment_id(spec.name),
    )
    render_status(spec.name, snap)


_CHECK_STATE = {True: "[green]ok[/]", False: "[red]problem[/]"}


def render_checks(
    spec, suite_file: Path, *, tracking_uri: str | None, storage: str | None
) -> None:  # fmt: skip
    """``run --dry-run``: what a run checks before it starts, and why it would refuse."""
    from benchmark.console import warning
    from benchmark.runner._preflight import PreflightError, check_ready, preflight

    checks = preflight(spec, tracking=tracking_uri, storage=storage, suite_file=suite_file)
    out = Table("check", "of", "state", "detail", title="before a run", title_justify="left")
    for check in checks:
        state = _CHECK_STATE[check.ok] if check.blocking or check.ok else "[yellow]warning[/]"
        detail = check.detail if check.ok else check.problem  # the fixes follow, once each
        out.add_row(check.kind, escape(check.name), state, escape(detail))
    print_table(out)
    try:
        check_ready(checks, suite=spec.name)
    except PreflightError as exc:
        warning(f"a run would be refused: {exc}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


_STATE_STYLE = {"finished": "green", "skipped": "dim", "failed": "red", "running": "cyan"}


def render_status(suite: str, snap: Snapshot) -> None:
    """``medbench status``: every cell's state, then what each worker is doing."""
    counts = ", ".join(
        f"{n} {s}"
        for s in ("queued", "running", "finished", "skipped", "failed", "not queued")
        if (n := snap.count(s))
    )
    out = Table("cell", "state", "trials", "worker", "run", "note", title=f"{suite}: {counts}",
                title_justify="left")  # fmt: skip
    for cell in snap.cells:
        style = _STATE_STYLE.get(cell.state, "")
        out.add_row(
            escape(cell.name),
            f"[{style}]{cell.state}[/]" if style else cell.state,
            cell.trials or "",
            cell.worker or "",
            cell.run_id or "",
            escape((cell.error or "")[:80]),
        )
    print_table(out)
    if snap.workers:
        from benchmark.cli._reporters import worker_rows

        print_table(worker_rows(snap))
