"""The launcher: several workers on this machine (one per device slot), or on a Ray cluster.

It checks both stores and queues the suite's cells once, then starts the workers, each a
``medbench worker`` process that sees only its own device, and shows their progress, read
from the stores, until they end. Ctrl-C (or SIGTERM) stops every worker cleanly: runs end
KILLED, trials and claims are failed and queued again by the next run. Workers stop on
their own when the launcher dies (even by SIGKILL), and the next ``medbench run`` resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmark.runner._context import CellOutcome, Reporter
from benchmark.runner._devices import Slot
from benchmark.runner._status import Snapshot, snapshot
from benchmark.runner._summary import summarise_suite
from benchmark.runner._worker import Session, outcomes_from_board, prepare
from benchmark.suite import Suite

__all__ = ["PARENT_ENV", "launch", "watch_parent", "worker_command"]

PARENT_ENV = "MEDBENCH_LAUNCHER_PID"
STOP_GRACE_S = 60


class Display:
    """What the launcher shows (``console.WorkersDisplay`` draws it); this base shows nothing."""

    def update(self, snap: Snapshot) -> None: ...
    def log(self, line: str) -> None: ...


def worker_command(
    suite_file: Path,
    overrides: Sequence[str],
    *,
    slot: Slot,
    tracking_uri: str,
    storage: str,
) -> list[str]:
    """The ``medbench worker`` command line of one slot (what the launcher and Ray run)."""
    args = [sys.executable, "-m", "benchmark", "worker", str(suite_file)]
    for item in overrides:
        args += ["--set", item]
    args += ["--tracking-uri", tracking_uri, "--storage", storage]
    args += ["--devices", slot.local_device, "--threads", str(slot.threads)]
    return [*args, "--name", slot.name, "--joined"]


def worker_env(slot: Slot) -> dict[str, str]:
    env = {**os.environ, PARENT_ENV: str(os.getpid()), "MEDBENCH_DEVICE_NAME": slot.device}
    env["CUDA_VISIBLE_DEVICES"] = slot.visible()
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launch(
    suite: Suite,
    *,
    suite_file: Path,
    overrides: Sequence[str],
    slots: Sequence[Slot],
    tracking_uri: str | None = None,
    storage: str | None = None,
    resume: bool = True,
    launcher: str = "local",
    display: Display | None = None,
    poll_s: float = 1.0,
) -> tuple[list[CellOutcome], list[str]]:
    """Run ``suite`` on ``slots``, one worker each, as local processes or as Ray tasks
    (``launcher``); return the cells' outcomes and the errors of workers that stopped with
    one. The stores are checked and the cells queued once, before any worker starts."""
    session = prepare(suite, tracking_uri=tracking_uri, storage=storage)
    session.open_experiment()
    session.post(resume=resume)

    def command(slot: Slot) -> list[str]:
        uri, storage = session.store.tracking_uri, session.storage
        return worker_command(suite_file, overrides, slot=slot, tracking_uri=uri, storage=storage)

    if launcher == "ray":
        from benchmark.runner._ray import run_on_ray

        errors = run_on_ray(session, slots, command, display or Display(), poll_s)
    else:
        errors = _run_local(session, slots, command, display or Display(), poll_s)
    summarise_suite(suite, session.context(None, Reporter()))
    return outcomes_from_board(session), errors


def _run_local(session, slots, command, display: Display, poll_s: float) -> list[str]:
    processes, errors = [], []
    try:
        for slot in slots:
            process = subprocess.Popen(
                command(slot),
                env=worker_env(slot),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # Ctrl-C reaches them through the launcher, once
            )
            processes.append(process)
            _forward(process, slot.name, display.log, errors)
        while any(p.poll() is None for p in processes):
            display.update(progress(session))
            time.sleep(poll_s)
        display.update(progress(session))
    finally:
        _stop(processes)
    return errors


def progress(session: Session) -> Snapshot:
    """Where the launched suite stands (what the display shows)."""
    return snapshot(
        storage=session.storage,
        suite=session.suite.name,
        cells=session.cells,
        store=session.store,
        experiment_id=session.experiment_id,
    )


def _forward(process, name: str, log: Callable[[str], None], errors: list[str]) -> None:
    """Show a worker's messages as they come; keep its last error line."""

    def pump() -> None:
        for line in process.stderr:
            line = line.rstrip()
            if line:
                log(f"[{name}] {line}")
                if line.startswith("Error:"):
                    errors.append(f"{name}: {line.removeprefix('Error:').strip()}")

    threading.Thread(target=pump, name=f"output-{name}", daemon=True).start()


def _stop(processes: list) -> None:
    """SIGINT to every worker still running (each ends its runs as KILLED), SIGKILL to those
    that have not stopped within the grace period."""
    alive = [p for p in processes if p.poll() is None]
    for process in alive:
        process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in alive:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def watch_parent() -> None:
    """In a worker started by a launcher: stop (as on SIGTERM) once the launcher is gone."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while True:
            if os.getppid() != int(parent):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(1.0)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()
