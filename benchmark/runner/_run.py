"""Running a whole suite in this process, and its summary across cells."""

from __future__ import annotations

from benchmark.runner._context import CellOutcome, Reporter
from benchmark.runner._summary import summarise_suite
from benchmark.runner._worker import Session, prepare, work
from benchmark.suite import Suite

__all__ = ["run_suite", "summarise"]


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
