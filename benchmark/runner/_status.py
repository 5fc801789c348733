"""Where a suite stands, read from its stores: each cell queued, running (where, doing
what), finished or failed, and what every worker is doing. The launcher's live display and
``medbench status`` show the same facts, for a suite running anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from benchmark import tune
from benchmark.suite import Cell

if TYPE_CHECKING:
    from benchmark.track import Store

__all__ = ["CellStatus", "Snapshot", "WorkerStatus", "snapshot"]

_STATES = {"WAITING": "queued", "RUNNING": "running"}


@dataclass(frozen=True)
class WorkerStatus:
    worker: str
    host: str
    pid: str
    device: str
    cell: str
    activity: str  # "trial 3", "final training, seed 0", ...
    epoch: int | None = None
    epochs: int | None = None
    score: float | None = None


@dataclass(frozen=True)
class CellStatus:
    name: str
    state: str  # not queued, queued, running, finished, skipped, failed
    run_id: str | None = None
    worker: str | None = None
    error: str | None = None
    trials: str | None = None  # "3/8 done" for a cell that tunes


@dataclass
class Snapshot:
    cells: list[CellStatus]
    workers: list[WorkerStatus] = field(default_factory=list)

    def count(self, *states: str) -> int:
        return sum(cell.state in states for cell in self.cells)

    @property
    def ended(self) -> int:
        return self.count("finished", "skipped", "failed")


def snapshot(
    *,
    storage: str,
    suite: str,
    cells: list[Cell],
    store: Store | None = None,
    experiment_id: str | None = None,
) -> Snapshot:
    """The suite's cells (in grid order) and workers, from its board and studies (and from
    the MLflow ``store``, for cells finished before the board existed)."""
    latest: dict[str, tune.CellEntry] = {}
    for listed in tune.board_entries(storage, suite):
        if not listed.duplicate:
            latest[listed.key] = listed
    rows, workers = [], []
    for cell in cells:
        entry = latest.get(cell.config_hash)
        trials = tune.study_trials(storage, entry.attrs["study"]) if _studied(entry) else []
        done = sum(t.state in ("COMPLETE", "PRUNED") for t in trials)
        progress = f"{done}/{cell.tune.trials}" if cell.tune is not None and trials else None
        rows.append(_cell_status(cell, entry, progress, store, experiment_id))
        if entry is not None and entry.state == "RUNNING":
            workers += _workers(cell, entry, trials)
    return Snapshot(rows, workers)


def _studied(entry: tune.CellEntry | None) -> TypeGuard[tune.CellEntry]:
    return entry is not None and bool(entry.attrs.get("study"))


def _cell_status(
    cell: Cell,
    entry: tune.CellEntry | None,
    trials: str | None,
    store: Store | None,
    experiment_id: str | None,
) -> CellStatus:
    if entry is None:
        done = (
            store.finished_cell(experiment_id, cell.config_hash)
            if store is not None and experiment_id is not None
            else None
        )
        return CellStatus(cell.name, "finished" if done else "not queued", run_id=done)
    a = entry.attrs
    if entry.state == "COMPLETE":
        state = a.get("outcome", "finished")
    elif entry.state == "FAIL":
        state = "failed"
    else:
        state = _STATES[entry.state]
    return CellStatus(
        cell.name,
        state,
        run_id=a.get("run_id") or None,
        worker=_who(a) if entry.state == "RUNNING" else None,
        error=(a.get("error") or a.get("outcome")) if state == "failed" else None,
        trials=trials,
    )


def _who(attrs: dict) -> str:
    return f"{attrs.get('worker', 'pid ' + str(attrs.get('pid')))}@{attrs.get('host')}"


def _workers(cell: Cell, entry: tune.CellEntry, trials: list) -> list[WorkerStatus]:
    """The cell's owner (its current phase) and every worker running one of its trials."""
    a = entry.attrs
    owner = (a.get("host"), a.get("pid"))
    rows = [
        _worker_row(
            trial.attrs, cell, f"trial {trial.number}", trial.epoch, cell.train.epochs, trial.value
        )
        for trial in trials
        if trial.state == "RUNNING"
    ]
    if not any((r.host, r.pid) == owner for r in rows):
        phase = a.get("phase", "starting")
        rows.insert(0, _worker_row(a, cell, phase, a.get("epoch"), a.get("epochs"), a.get("score")))
    return rows


def _worker_row(attrs: dict, cell: Cell, activity: str, epoch, epochs, score) -> WorkerStatus:
    return WorkerStatus(
        worker=attrs.get("worker", "-"),
        host=attrs.get("host", "?"),
        pid=attrs.get("pid", "?"),
        device=attrs.get("device", "?"),
        cell=cell.name,
        activity=activity,
        epoch=epoch,
        epochs=epochs,
        score=score,
    )
