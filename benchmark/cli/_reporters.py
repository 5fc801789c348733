"""How a run shows its progress: rich bars in a terminal, lines in a log, the workers' table."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchmark.console import console
from benchmark.runner import CellOutcome, Display, Reporter, Snapshot
from benchmark.suite import Cell

__all__ = ["RichReporter", "WorkersDisplay", "worker_rows"]


def _progress(*extra) -> Progress:
    """Bars as the run shows them: spinner, what, bar, done/total, time, then ``extra``."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
        console=console,
    )


class RichReporter(Reporter):
    """Live progress of a suite: one bar for cells, one for the current cell's epochs."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet  # no warnings (a caller that shows the findings itself)
        self.progress = _progress(TextColumn("{task.fields[info]}"))
        self._cells: TaskID | None = None  # the suite's bar
        self._epochs: TaskID | None = None  # the current cell's, from its start to its end
        self._load: TaskID | None = None
        self._cell_name = ""

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def loading(self, what: str, *, done: int, total: int) -> None:
        if self._load is None:
            self._load = self.progress.add_task(what, total=total, info="")
        self.progress.update(self._load, completed=done, total=total)
        if done >= total:
            self.progress.remove_task(self._load)
            self._load = None

    def warning(self, message: str) -> None:
        if not self.quiet:
            self.progress.console.print(f"[yellow]warning:[/] {escape(message)}")

    def waiting(self, message: str) -> None:
        self.progress.console.print(f"[dim]{escape(message)}[/]")

    def cell_started(self, cell: Cell, *, index: int, total: int) -> None:
        if self._cells is None:
            self._cells = self.progress.add_task("cells", total=total, info="")
        if self._epochs is not None:
            self.progress.remove_task(self._epochs)
        self._cell_name = cell.name
        self._epochs = self.progress.add_task(
            f"[cyan]{cell.name}", total=cell.train.epochs, info=""
        )

    def phase(self, description: str, epochs: int) -> None:
        if self._epochs is None:  # no cell started
            return
        self.progress.update(
            self._epochs,
            description=f"[cyan]{self._cell_name}[/] {description}",
            total=epochs,
            completed=0,
            info="",
        )

    def batch_done(self, step: int, total: int) -> None:
        if self._epochs is not None and step % max(total // 10, 1) == 0:
            self.progress.update(self._epochs, info=f"batch {step}/{total}")

    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None:
        shown = {"train/loss": "loss", "val/accuracy": "val acc", "val/f1_weighted": "val f1"}
        # a head fitted at once on features has no training loss
        info = "  ".join(f"{label} {metrics[k]:.3f}" for k, label in shown.items() if k in metrics)
        if self._epochs is not None:
            self.progress.update(self._epochs, completed=epoch, info=info)

    def cell_done(self, outcome: CellOutcome) -> None:
        if self._cells is not None:
            self.progress.advance(self._cells)
        if self._epochs is not None:
            self.progress.remove_task(self._epochs)
        self._epochs = None
        cell = outcome.cell
        if outcome.status == "skipped":
            self.progress.console.print(
                f"[dim]↷ {cell.name}: already finished (run {outcome.run_id})"
            )
        elif outcome.status == "failed":
            self.progress.console.print(f"[red]✗ {cell.name} failed:[/] {outcome.error}")
        else:
            self.progress.console.print(
                f"[green]✓[/] {cell.name}: {outcome.scores} in {outcome.seconds:.1f}s"
            )


def worker_rows(snap: Snapshot) -> Table:
    out = Table("worker", "host", "device", "cell", "doing", "epoch", "val score", box=None)
    for w in snap.workers:
        epoch = "" if w.epoch is None else f"{w.epoch}" + (f"/{w.epochs}" if w.epochs else "")
        score = "" if w.score is None else f"{w.score:.3f}"
        out.add_row(w.worker, w.host, w.device, escape(w.cell), escape(w.activity), epoch, score)
    return out


class WorkersDisplay(Display):
    """The launcher's live view: a bar for the cells and one line per worker."""

    def __init__(self) -> None:
        from rich.console import Group
        from rich.live import Live

        self._group = Group
        self.progress = _progress()
        self._cells = self.progress.add_task("cells", total=None)
        self.live = Live(self.progress, console=console, refresh_per_second=4)

    def __enter__(self) -> WorkersDisplay:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()
        console.line()

    def update(self, snap: Snapshot) -> None:
        self.progress.update(self._cells, total=len(snap.cells), completed=snap.ended)
        if snap.workers:
            self.live.update(self._group(self.progress, worker_rows(snap)))
        else:
            self.live.update(self.progress)

    def log(self, line: str) -> None:
        self.live.console.print(line, highlight=False, markup=False)
