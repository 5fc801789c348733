"""The launcher: several workers on this machine (one per device slot), or on a Ray cluster.

It checks both stores and queues the suite's cells once, then starts the workers, each a
``python -m benchmark.runner`` process that sees only its own device and is handed the
resolved suite (:mod:`benchmark.runner._entry`), and shows their progress, read from the
stores, until they end. Ctrl-C (or SIGTERM) stops every worker cleanly: runs end
KILLED, trials and claims are failed and queued again by the next run. Workers stop on
their own when the launcher dies (even by SIGKILL), and the next ``medbench run`` resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from benchmark.runner._context import CellOutcome, Reporter
from benchmark.runner._devices import Slot
from benchmark.runner._entry import Assignment, worker_command
from benchmark.runner._status import Snapshot, snapshot
from benchmark.runner._summary import summarise_suite
from benchmark.runner._worker import Session, outcomes_from_board, prepare
from benchmark.suite import Suite

__all__ = ["assignment", "launch"]

STOP_GRACE_S = 60


class Display:
    """What the launcher shows (the command line's ``WorkersDisplay`` draws it); this base shows
    nothing."""

    def update(self, snap: Snapshot) -> None: ...
    def log(self, line: str) -> None: ...


def assignment(session: Session, slot: Slot) -> Assignment:
    """What the worker of ``slot`` is handed: the resolved suite, its cells, both stores,
    its device and cores, and this launcher's pid."""
    return Assignment(
        suite=session.suite.model_dump(mode="json"),
        cells=[cell.config_hash for cell in session.cells],
        tracking_uri=session.store.tracking_uri,
        storage=session.storage,
        name=slot.name,
        device=slot.local_device,
        device_name=slot.device,
        threads=slot.threads,
        launcher_pid=os.getpid(),
    )


def worker_env(slot: Slot) -> dict[str, str]:
    """The worker's environment: this one, seeing only its own GPU (if any)."""
    return {**os.environ, "CUDA_VISIBLE_DEVICES": slot.visible(), "PYTHONUNBUFFERED": "1"}


def launch(
    suite: Suite,
    *,
    slots: Sequence[Slot],
    tracking_uri: str | None = None,
    storage: str | None = None,
    resume: bool = True,
    launcher: str = "local",
    display: Display | None = None,
    poll_s: float = 1.0,
    check: bool = True,
) -> tuple[list[CellOutcome], list[str]]:
    """Run ``suite`` on ``slots``, one worker each, as local processes or as Ray tasks
    (``launcher``); return the cells' outcomes and the errors of workers that stopped with
    one. What the suite needs is checked (with ``check``: see :func:`prepare`), the stores
    opened and the cells queued once, before any worker starts."""
    session = prepare(suite, tracking_uri=tracking_uri, storage=storage, check=check)
    session.open_experiment()
    session.post(resume=resume)

    if launcher == "ray":
        from benchmark.runner._ray import run_on_ray

        errors = run_on_ray(session, slots, display=display or Display(), poll_s=poll_s)
    else:
        errors = _run_local(session, slots, display=display or Display(), poll_s=poll_s)
    summarise_suite(suite, session.context(None, Reporter()))
    return outcomes_from_board(session), errors


def _run_local(
    session: Session, slots: Sequence[Slot], *, display: Display, poll_s: float
) -> list[str]:
    processes: list[subprocess.Popen[str]] = []
    errors: list[str] = []
    try:
        for slot in slots:
            process = subprocess.Popen(
                worker_command(),
                env=worker_env(slot),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # Ctrl-C reaches them through the launcher, once
            )
            processes.append(process)
            assert process.stdin is not None  # stdin=PIPE
            process.stdin.write(assignment(session, slot).model_dump_json())
            process.stdin.close()
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


def _forward(
    process: subprocess.Popen[str], name: str, log: Callable[[str], None], errors: list[str]
) -> None:
    """Show a worker's messages as they come; keep its last error line."""
    stderr = process.stderr
    assert stderr is not None  # started with stderr=PIPE

    def pump() -> None:
        for line in stderr:
            line = line.rstrip()
            if line:
                log(f"[{name}] {line}")
                if line.startswith("Error:"):
                    errors.append(f"{name}: {line.removeprefix('Error:').strip()}")

    threading.Thread(target=pump, name=f"output-{name}", daemon=True).start()


def _stop(processes: list[subprocess.Popen[str]]) -> None:
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
