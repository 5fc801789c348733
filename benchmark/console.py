"""Everything the terminal shows: rich tables, progress, messages."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchmark.leaderboard import COLUMNS, format_cell
from benchmark.runner import CellOutcome, Reporter
from benchmark.suite import Cell

__all__ = [
    "RichReporter",
    "console",
    "err_console",
    "error",
    "print_table",
    "render_cells",
    "render_leaderboard",
]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def error(message: str) -> None:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)


def render_leaderboard(table: pd.DataFrame, *, title: str) -> None:
    columns = {c.name: c for c in COLUMNS}
    out = Table(title=title, title_justify="left")
    for name in table.columns:
        out.add_column(name, justify="left" if columns[name].is_label else "right")
    best = {
        name: (table[name].max() if c.higher_is_better else table[name].min())
        for name, c in columns.items()
        if c.higher_is_better is not None and name in table and table[name].notna().any()
    }
    for _, row in table.iterrows():
        cells = []
        for name in table.columns:
            text = format_cell(row[name], columns[name])
            cells.append(
                f"[bold green]{text}[/]" if name in best and row[name] == best[name] else text
            )
        out.add_row(*cells)
    print_table(out)


def print_table(table: Table) -> None:
    """Print without squeezing columns when the output is not a terminal (pipes, files)."""
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(1000), table).maximum
    saved = console.width
    console.width = max(saved, needed)
    try:
        console.print(table)
    finally:
        console.width = saved


def render_cells(cells: list[Cell]) -> None:
    out = Table(title=f"{len(cells)} cells", title_justify="left")
    for name in ("cell", "image size", "epochs", "pretrained", "config hash"):
        out.add_column(name)
    for cell in cells:
        out.add_row(
            cell.name,
            str(cell.image_size),
            str(cell.train.epochs),
            "yes" if cell.backbone.pretrained else "no",
            cell.config_hash,
        )
    print_table(out)


class RichReporter(Reporter):
    """Live progress of a suite: one bar for cells, one for the current cell's epochs."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        self._cells = self._epochs = self._load = None

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def loading(self, what: str, done: int, total: int) -> None:
        if self._load is None:
            self._load = self.progress.add_task(f"decoding {what}", total=total, info="")
        self.progress.update(self._load, completed=done, total=total)
        if done >= total:
            self.progress.remove_task(self._load)
            self._load = None

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        if self._cells is None:
            self._cells = self.progress.add_task("cells", total=total, info="")
        if self._epochs is not None:
            self.progress.remove_task(self._epochs)
        self._cell_name = cell.name
        self._epochs = self.progress.add_task(
            f"[cyan]{cell.name}", total=cell.train.epochs, info=""
        )

    def phase(self, description: str, epochs: int) -> None:
        self.progress.update(
            self._epochs,
            description=f"[cyan]{self._cell_name}[/] {description}",
            total=epochs,
            completed=0,
            info="",
        )

    def batch_done(self, step: int, total: int) -> None:
        if step % max(total // 10, 1) == 0:
            self.progress.update(self._epochs, info=f"batch {step}/{total}")

    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None:
        info = f"loss {metrics['train/loss']:.3f}"
        if "val/accuracy" in metrics:
            info += (
                f"  val acc {metrics['val/accuracy']:.3f}  val f1 {metrics['val/f1_weighted']:.3f}"
            )
        self.progress.update(self._epochs, completed=epoch, info=info)

    def cell_done(self, outcome: CellOutcome) -> None:
        self.progress.advance(self._cells)
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
            m = outcome.metrics
            self.progress.console.print(
                f"[green]✓[/] {cell.name}: test accuracy {m['test/accuracy']:.3f}, "
                f"F1 {m['test/f1_weighted']:.3f} in {outcome.seconds:.1f}s"
            )
