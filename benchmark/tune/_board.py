"""The work board of a suite: which cell is queued, which worker runs it, which ended how.

The board is an Optuna study (``<suite>.cells``) in the suite's storage whose trials are the
cells: a WAITING trial is a queued cell, and a worker claims it by moving it to RUNNING,
which exactly one process can do (the storage's own atomic update, in the journal and in
PostgreSQL alike). No queue of our own, no lock files.

Queuing is idempotent up to a race: two launchers that start together may both queue a
cell. Of the trials of one cell, the one with the lowest number among those queued or
running is the cell's claim; a worker that takes another one records it as a duplicate and
lets it go, so a cell is never run by two workers at once. A claim whose owner died is
failed (by whoever notices: its pid is gone from this host, or its heartbeat is stale) and
queued again once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from benchmark.tune._storage import claim_waiting, fail_dead_trials, heartbeat, open_storage

__all__ = ["CellClaim", "CellEntry", "board_entries", "claim_cell", "post_cells", "reap_cells"]

_LIVE = (TrialState.WAITING, TrialState.RUNNING)


@dataclass(frozen=True)
class CellEntry:
    """One trial of the board as plain data (for the worker loop and ``medbench status``)."""

    number: int
    key: str  # the cell's config hash
    name: str
    state: str  # WAITING, RUNNING, COMPLETE or FAIL
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def duplicate(self) -> bool:
        return bool(self.attrs.get("duplicate"))


@dataclass
class CellClaim:
    """A cell this worker holds until :meth:`release`."""

    entry: CellEntry
    _study: optuna.Study
    _trial_id: int

    @property
    def resume(self) -> bool:
        return bool(self.entry.attrs.get("resume", True))

    def note(self, **facts: Any) -> None:
        """Record facts on the claim (its run id, study, progress) for other workers."""
        for key, value in facts.items():
            with contextlib.suppress(UpdateFinishedTrialError):
                self._study._storage.set_trial_user_attr(self._trial_id, key, value)

    def held(self) -> bool:
        """Still RUNNING (not failed by another worker that took this one for dead)."""
        return self._study._storage.get_trial(self._trial_id).state == TrialState.RUNNING

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        with heartbeat(self._study._storage, self._trial_id):
            yield

    def release(self, outcome: str, **facts: Any) -> None:
        """End the claim: ``finished`` or ``skipped`` complete it, anything else fails it
        (``failed``: an error, queued again by the next run; ``interrupted``: the same)."""
        self.note(outcome=outcome, **facts)
        state = TrialState.COMPLETE if outcome in ("finished", "skipped") else TrialState.FAIL
        with contextlib.suppress(UpdateFinishedTrialError):
            value = 1.0 if state == TrialState.COMPLETE else None
            self._study.tell(self.entry.number, value, state=state)


def _board(storage: str | None, suite: str) -> optuna.Study:
    return optuna.create_study(
        study_name=f"{suite}.cells", storage=open_storage(storage), load_if_exists=True
    )


def _entry(trial: FrozenTrial) -> CellEntry:
    attrs = dict(trial.user_attrs)
    return CellEntry(trial.number, attrs.get("cell", ""), attrs.get("name", ""),
                     trial.state.name, attrs)  # fmt: skip


def board_entries(storage: str | None, suite: str) -> list[CellEntry]:
    """Every trial of the suite's board, oldest first."""
    return [_entry(t) for t in _board(storage, suite).get_trials(deepcopy=False)]


def post_cells(
    storage: str | None,
    suite: str,
    *,
    cells: Iterable[tuple[str, str]],
    resume: bool = True,
) -> int:
    """Queue each ``(config hash, name)`` that has no queued or running claim; return how
    many were queued. (Cells already finished are skipped by the worker that claims them.)"""
    study = _board(storage, suite)
    if study.user_attrs.get("suite") != suite:  # readable in Optuna Dashboard
        study.set_user_attr("suite", suite)
        study.set_user_attr("kind", "the suite's cells: a trial per claim of a cell")
    live = {_entry(t).key for t in study.get_trials(deepcopy=False, states=_LIVE)}
    queued = 0
    for key, name in cells:
        if key not in live:
            study.enqueue_trial({}, user_attrs={"cell": key, "name": name, "resume": resume})
            live.add(key)
            queued += 1
    return queued


def reap_cells(storage: str | None, suite: str) -> list[CellEntry]:
    """Fail the claims whose owner died and queue their cells again; return the dead ones
    (whose MLflow runs the caller ends as FAILED)."""
    study = _board(storage, suite)
    dead = [_entry(t) for t in fail_dead_trials(study)]
    for entry in dead:
        if not entry.duplicate:
            attrs: dict[str, Any] = {
                k: entry.attrs[k] for k in ("cell", "name", "resume") if k in entry.attrs
            }
            root = entry.attrs.get("retry_of", entry.number)
            study.enqueue_trial({}, user_attrs={**attrs, "retry_of": root})
    return dead


def claim_cell(storage: str | None, suite: str, *, keys: list[str]) -> CellClaim | None:
    """Claim one queued cell among ``keys`` (the cells this worker can build, in the order it
    prefers them: the suite's grid), or None."""
    study = _board(storage, suite)
    order = {key: k for k, key in enumerate(keys)}
    waiting = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if t.user_attrs.get("cell") in order
    ]
    for trial in sorted(waiting, key=lambda t: (order[t.user_attrs["cell"]], t.number)):
        entry = _entry(trial)
        if not claim_waiting(study._storage, trial):
            continue
        claim = CellClaim(entry, study, trial._trial_id)
        if _is_first(study, entry):
            return claim
        claim.note(duplicate=True)
        claim.release("duplicate")
    return None


def _is_first(study: optuna.Study, mine: CellEntry) -> bool:
    """No other claim of the same cell with a lower number is queued or running."""
    return not any(
        e.key == mine.key and e.number < mine.number and not e.duplicate
        for e in map(_entry, study.get_trials(deepcopy=False, states=_LIVE))
    )
