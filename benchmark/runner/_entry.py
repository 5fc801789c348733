"""How a launcher starts a worker: ``python -m benchmark.runner``, its assignment on stdin.

The assignment carries the suite exactly as the launcher resolved it (no worker reads the
YAML again, so ``${VAR}``, ``--set`` and a file changed meanwhile cannot make two workers
run different suites), the cells the launcher queued (checked: a worker whose cells differ
refuses to start), both stores, the device as the worker sees it and as the machine names
it, its share of the cores, and the launcher's pid (the worker stops when it is gone).
The worker reports in lines on stderr, which the launcher shows; an error is one line
``Error: …``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from pydantic import BaseModel, ConfigDict

from benchmark.console import err_console, error
from benchmark.errors import MedbenchError
from benchmark.runner._context import CellOutcome, Reporter
from benchmark.suite import Suite

__all__ = ["Assignment", "LineReporter", "main", "run_assignment", "watch_parent", "worker_command"]


def worker_command() -> list[str]:
    """A worker process of this interpreter (its assignment goes to its stdin)."""
    return [sys.executable, "-m", "benchmark.runner"]


class Assignment(BaseModel):
    """One worker's part of a launched run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: dict  # the resolved suite, as JSON
    cells: list[str]  # the config hashes the launcher queued
    tracking_uri: str
    storage: str
    name: str  # w1, w2, ...
    device: str  # as the worker sees it: cpu, cuda:0
    device_name: str  # as the machine names it: cpu, cuda:2
    threads: int
    launcher_pid: int


class LineReporter(Reporter):
    """Progress as plain lines on stderr, for the launcher that draws the display."""

    def warning(self, message: str) -> None:
        err_console.print(f"warning: {message}", highlight=False, markup=False)

    def cell_done(self, outcome: CellOutcome) -> None:
        cell = outcome.cell
        if outcome.status == "failed":
            line = f"✗ {cell.name} failed: {outcome.error}"
        elif outcome.status == "skipped":
            line = f"↷ {cell.name}: already finished (run {outcome.run_id})"
        else:
            line = f"✓ {cell.name}: {outcome.scores} in {outcome.seconds:.1f}s"
        err_console.print(line, highlight=False, markup=False)


def run_assignment(assignment: Assignment) -> None:
    """Work on the launched run: claim cells and help with trials until all have ended."""
    import torch

    from benchmark._process import set_worker
    from benchmark.runner._worker import prepare, work

    watch_parent(assignment.launcher_pid)
    set_worker(worker=assignment.name)
    torch.set_num_threads(assignment.threads)
    suite = Suite.model_validate(assignment.suite)
    session = prepare(  # the launcher checked what the suite needs before it started
        suite, tracking_uri=assignment.tracking_uri, storage=assignment.storage, check=False
    )
    mine = [cell.config_hash for cell in session.cells]
    if mine != assignment.cells:
        raise MedbenchError(
            f"this worker's cells of suite '{suite.name}' differ from those its launcher "
            "queued: the two run different medbench versions. Install the same version."
        )
    work(session, device=assignment.device, device_name=assignment.device_name,
         reporter=LineReporter(), post=False)  # fmt: skip


def watch_parent(pid: int) -> None:
    """Stop (as on SIGTERM) once the launcher ``pid`` is gone, even if it was killed."""

    def watch() -> None:
        while True:
            if os.getppid() != pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(1.0)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """The worker process: its assignment from stdin; 1 after an error, 130 when stopped."""
    signal.signal(signal.SIGTERM, _interrupt)  # runs end KILLED, as on Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)
    try:
        run_assignment(Assignment.model_validate_json(sys.stdin.read()))
    except MedbenchError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
