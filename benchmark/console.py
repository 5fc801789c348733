"""What every command prints through: the rich consoles, messages, tables, progress bars.

Renderings of one command's results live beside that command in ``benchmark.cli``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from benchmark.track import ModelSource

__all__ = [
    "console",
    "err_console",
    "error",
    "print_table",
    "progress_bar",
    "render_model",
    "render_predictions",
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


def render_model(source: ModelSource, config: dict) -> None:
    """Which model answers: its registered name and version (or run), backbone, test scores."""
    name = f"{source.name} version {source.version}" if source.name else source.uri
    scores = ", ".join(
        f"{key.removeprefix('test/')} {source.metrics[key]:.3f}"
        for key in ("test/accuracy", "test/f1_weighted", "test/auroc_macro")
        if key in source.metrics
    )
    console.print(
        f"[bold]{escape(name)}[/]: {config['backbone']} at {config['image_size']} px, "
        f"classes {', '.join(config['classes'])}" + (f"; test {scores}" if scores else "")
    )


def render_predictions(frame: Any) -> None:
    """One row per image: predicted class, confidence, the top classes, or why it failed."""
    out = Table("file", "predicted", "confidence", "top classes")
    for row in frame.itertuples():
        if row.error:
            out.add_row(escape(row.file), "[red]error[/]", "", f"[red]{escape(row.error)}[/]")
        else:
            out.add_row(escape(row.file), row.label, f"{row.confidence:.3f}", row.top_k)
    print_table(out)
