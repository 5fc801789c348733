"""What every command prints through: the rich consoles, messages, tables, progress bars.

Renderings of one command's results live beside that command in ``benchmark.cli``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = [
    "console",
    "err_console",
    "error",
    "print_table",
    "progress_bar",
    "warning",
]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def error(message: str) -> None:
    err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


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


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar; yields ``update(done, total)``."""
    with Progress(
        TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)
