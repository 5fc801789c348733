"""What the parts of a suite run share: outcomes, the progress reporter, and the tracking
context (stores, device, where checkpoints go). Light: no torch, no data libraries, so that a
launcher can start its workers at once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from benchmark.runner._features import EmbedTally
from benchmark.suite import Cell

if TYPE_CHECKING:
    import torch

    from benchmark.data import ImageSet
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

    @property
    def scores(self) -> str:
        """The finished cell's headline test scores, as its task is judged (``headline``:
        accuracy and F1; AUROC and the operating point; macro AUROC and F1)."""
        from benchmark.tasks import get_task

        shown = get_task(self.cell.data.task.kind).headline
        parts = [f"{name} {self.metrics[key]:.3f}" for name, key in shown if key in self.metrics]
        return "test " + ", ".join(parts) if parts else "no test scores"


class Reporter:
    """What the runner tells a display about its progress; this base shows nothing
    (the command line's ``RichReporter`` draws it)."""

    def loading(self, what: str, *, done: int, total: int) -> None: ...
    def warning(self, message: str) -> None: ...
    def waiting(self, message: str) -> None: ...
    def cell_started(self, cell: Cell, *, index: int, total: int) -> None: ...
    def phase(self, description: str, epochs: int) -> None: ...
    def batch_done(self, step: int, total: int) -> None: ...
    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def cell_done(self, outcome: CellOutcome) -> None: ...


class Placement:
    """The one set of images a worker keeps on its device, whatever the dataset: placing
    another frees it first, and the allocator's cache with it, so the device's budget is
    measured on memory really free (not on what earlier cells left cached)."""

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._pixels: torch.Tensor | None = None

    def images(self, images: ImageSet, device: torch.device) -> torch.Tensor:
        """``images`` on ``device`` if they fit its budget (else in host memory), placed once
        and kept while the cells and trials that follow use the same ones."""
        from benchmark.data import place_images

        key = (id(images.images), str(device))
        if key != self._key or self._pixels is None:
            self.release()
            self._pixels, self._key = place_images(images.images, device), key
        return self._pixels

    def release(self) -> None:
        """Free the placed images (a cell has ended, or others are placed)."""
        held = self._pixels is not None and self._pixels.is_cuda
        self._key = self._pixels = None
        if held:
            import torch

            torch.cuda.empty_cache()


@dataclass
class Context:
    store: Store
    experiment_id: str
    storage: str | None
    device: torch.device
    reporter: Reporter
    checkpoints: Path | None = None  # where trainings save their state each epoch (None: off)
    placement: Placement = field(default_factory=Placement)  # the images on the worker's device
    embeddings: EmbedTally = field(default_factory=EmbedTally)  # the cell's, and their cost

    def checkpoint(self, *parts: str) -> Path | None:
        """The checkpoint file of one training (``suite/config hash/seed-0``, say)."""
        if self.checkpoints is None:
            return None
        *folders, name = parts
        return self.checkpoints.joinpath(*folders, f"{name}.pt")

    def end_cell(self) -> None:
        """What a cell held on the device is given back: the next may need all of it."""
        self.placement.release()
        self.embeddings.clear()

    def remove_checkpoint(self, path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)

    def remove_checkpoints(self, *parts: str) -> None:
        """Delete the checkpoints of a finished cell or study."""
        if self.checkpoints is not None:
            shutil.rmtree(self.checkpoints.joinpath(*parts), ignore_errors=True)
