"""Runs a suite: every cell tuned, trained, evaluated once on its test split, and tracked.

The only package that decides what is logged. Both stores are checked before anything else
(seconds, not minutes, when one is unreachable or read-only); datasets are indexed and split
before any training (bad data fails fast); images are decoded once per dataset and size and
shared by the cells that use them. Per cell: an Optuna study on train/val (each trial a
nested MLflow run), then the final training with the best settings (once per seed), then
the test split, touched once. A failing cell is recorded as FAILED and the others still
run; cells already FINISHED with the same config hash are skipped; an interrupted study or
training resumes. Analyses across cells go to the suite's summary run.

Cells are claimed through the suite's board in the Optuna storage, so any number of
workers (processes of one launcher, ``medbench run`` started twice, ``medbench worker`` on
other machines) share one suite and no cell is trained twice.
"""

from __future__ import annotations

from benchmark.runner._context import CellOutcome, Reporter
from benchmark.runner._data import Dataset
from benchmark.runner._devices import Slot, plan_slots
from benchmark.runner._launch import Display, launch
from benchmark.runner._status import CellStatus, Snapshot, WorkerStatus, snapshot
from benchmark.runner._summary import summarise_suite
from benchmark.runner._worker import Session, prepare, work
from benchmark.suite import Suite

__all__ = [
    "CellOutcome",
    "CellStatus",
    "Dataset",
    "Display",
    "Reporter",
    "Session",
    "Slot",
    "Snapshot",
    "WorkerStatus",
    "launch",
    "plan_slots",
    "prepare",
    "run_suite",
    "snapshot",
    "summarise",
    "work",
]


def run_suite(
    suite: Suite,
    *,
    tracking_uri: str | None = None,
    storage: str | None = None,
    device: str = "auto",
    resume: bool = True,
    reporter: Reporter | None = None,
) -> list[CellOutcome]:
    """Run every cell of ``suite`` in this process (alongside any other workers of the same
    suite); return one outcome per cell, in grid order."""
    reporter = reporter or Reporter()
    session = prepare(suite, tracking_uri=tracking_uri, storage=storage)
    outcomes = work(session, device=device, reporter=reporter, resume=resume)
    summarise(session)
    return outcomes


def summarise(session: Session) -> None:
    """The suite's analyses across cells, on its summary run (replaced)."""
    summarise_suite(session.suite, session.context(None, Reporter()))
