"""What the parts of a suite run share: outcomes, the progress reporter, and the tracking
context (stores, device, where checkpoints go). Light: no torch, no data libraries, so that a
launcher can start its workers at once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from benchmark.suite import Cell

if TYPE_CHECKING:
    import torch

    from benchmark.track import Store

Status = Literal["finished", "skipped", "failed"]


@dataclass
class CellOutcome:
    cell: Cell
    status: Status
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class Reporter:
    """What the runner tells a display about its progress; this base shows nothing
    (``console.RichReporter`` draws it)."""

    def loading(self, what: str, done: int, total: int) -> None: ...
    def warning(self, message: str) -> None: ...
    def waiting(self, message: str) -> None: ...
    def cell_started(self, cell: Cell, index: int, total: int) -> None: ...
    def phase(self, description: str, epochs: int) -> None: ...
    def batch_done(self, step: int, total: int) -> None: ...
    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def cell_done(self, outcome: CellOutcome) -> None: ...


@dataclass
class Context:
    store: Store
    experiment_id: str
    storage: str | None
    device: torch.device
    reporter: Reporter
    checkpoints: Path | None = None  # where trainings save their state each epoch (None: off)

    def checkpoint(self, *parts: str) -> Path | None:
        """The checkpoint file of one training (``suite/config hash/seed-0``, say)."""
        if self.checkpoints is None:
            return None
        *folders, name = parts
        return self.checkpoints.joinpath(*folders, f"{name}.pt")

    def remove_checkpoint(self, path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)

    def remove_checkpoints(self, *parts: str) -> None:
        """Delete the checkpoints of a finished cell or study."""
        if self.checkpoints is not None:
            shutil.rmtree(self.checkpoints.joinpath(*parts), ignore_errors=True)
