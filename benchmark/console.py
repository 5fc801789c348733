"""Everything the terminal shows: rich tables, progress, messages."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
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

from benchmark.leaderboard import Board, best_mask, cell_texts
from benchmark.runner import CellOutcome, Reporter
from benchmark.suite import Cell

if TYPE_CHECKING:
    from benchmark.data import AuditReport
    from benchmark.promote import Choice
    from benchmark.track import ModelSource

__all__ = [
    "RichReporter",
    "console",
    "err_console",
    "error",
    "print_table",
    "progress_bar",
    "render_audit",
    "render_cells",
    "render_choice",
    "render_inspection",
    "render_leaderboard",
    "render_model",
    "render_predictions",
    "warning",
]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def error(message: str) -> None:
    err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def render_leaderboard(board: Board, *, title: str) -> None:
    """A table with the best value of each column (within its group) in bold green."""
    texts, best = cell_texts(board), best_mask(board)
    out = Table(title=title, title_justify="left")
    for name in texts.columns:
        out.add_column(name, justify="left" if board.columns[name].is_label else "right")
    for i in texts.index:
        out.add_row(
            *(
                f"[bold green]{escape(texts.at[i, c])}[/]"
                if best.at[i, c]
                else escape(texts.at[i, c])
                for c in texts.columns
            )
        )
    print_table(out)
    for note in board.notes:
        style = "bold red" if note.startswith("test_leaks") else "dim"
        console.print(note, style=style, highlight=False)


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


def render_inspection(result: dict[str, Any], *, console: Console = console) -> None:
    """``medbench data inspect``: counts, sizes and modes per split and class."""
    out = Table(title=f"{result['root']} ({result['layout']})", title_justify="left")
    for name in ("split", "class", "images", "sizes (most common)", "modes"):
        out.add_column(name, justify="right" if name == "images" else "left")
    for split, classes in result["splits"].items():
        for label, count in classes.items():
            sizes = result["sizes"][split][label]
            common = sorted(sizes.items(), key=lambda kv: -kv[1])
            text = ", ".join(f"{s} ×{n}" for s, n in common[:3])
            if len(common) > 3:
                text += f", … ({len(common)} sizes)"
            modes = ", ".join(f"{m} ×{n}" for m, n in result["modes"][split][label].items())
            out.add_row(split, label, str(count), text, modes)
    print_table(out)
    for bad in result["bad_files"]:
        console.print(f"[red]unreadable:[/] {escape(bad['path'])}: {escape(bad['reason'])}")
    for note in result["notes"]:
        console.print(f"[dim]note:[/] {escape(note)}")
    console.print(
        f"{result['images']} readable images, {len(result['bad_files'])} unreadable file(s)."
    )


_ALARMS = {
    "bad_files",
    "test_leaks",
    "label_conflicts",
    "duplicate_sets_across_splits",
    "groups_across_splits",
}


def render_audit(
    name: str, report: AuditReport, *, policy: str, console: Console = console
) -> None:
    """``medbench data audit``: the headline numbers, then what leaks and what repeats."""
    counts = report.counts()
    out = Table(title=f"audit of {name}", title_justify="left", show_header=False)
    out.add_column("check")
    out.add_column("result", justify="right")
    for key, value in counts.items():
        flagged = value and key in _ALARMS
        out.add_row(key.replace("_", " "), f"[bold red]{value}[/]" if flagged else str(value))
    print_table(out)
    classes = sorted({label for per in report.splits.values() for label in per})
    balance = Table("split", *classes, title="images per split and class", title_justify="left")
    for split, per in report.splits.items():
        balance.add_row(split, *(str(per.get(label, 0)) for label in classes))
    print_table(balance)
    if report.test_leaks:
        shown = ", ".join(report.test_leaks[:5]) + (" …" if len(report.test_leaks) > 5 else "")
        console.print(
            f"[bold red]{len(report.test_leaks)} test image(s) leak[/] (a copy or the same group "
            f"in train/val): {escape(shown)}. Policy on_leak: {policy}."
        )
    for dup in [d for d in report.duplicates if len(d["splits"]) > 1][:5]:
        ids = ", ".join(f"{i['id']} ({i['split']})" for i in dup["images"][:4])
        console.print(f"[yellow]{dup['kind']} duplicates across splits:[/] {escape(ids)}")
    for group in report.group_overlap[:5]:
        console.print(
            f"[yellow]group {escape(str(group['group']))}[/] spans {', '.join(group['splits'])}"
        )
    for ids in report.label_conflicts[:5]:
        console.print(f"[red]same image, different labels:[/] {escape(', '.join(ids[:4]))}")
    for bad in report.bad_files[:10]:
        console.print(f"[red]unreadable:[/] {escape(bad['path'])}: {escape(bad['reason'])}")
    for odd in report.odd_images[:5]:
        console.print(f"[dim]odd:[/] {escape(odd['id'])}: {escape(odd['why'])}")


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


def render_choice(choice: Choice) -> None:
    """A dataset's cells ranked for promotion, the chosen one in green, refusals in red."""
    out = Table(title=f"{choice.dataset}: cells by {choice.metric}", title_justify="left")
    for name in ("cell", "run", choice.metric, "CI width", "latency ms", ""):
        out.add_column(name, justify="right" if name in ("CI width", "latency ms") else "left")
    for row in choice.candidates.itertuples():
        style = "green" if row.note == "chosen" else "red" if row.note else None
        out.add_row(
            row.cell,
            row.run_id[:8],
            _number(row.value, ".4f"),
            _number(row.ci_width, ".4f"),
            _number(row.latency_ms, ".2f"),
            row.note,
            style=style,
        )
    print_table(out)


def _number(value: float, spec: str) -> str:
    return "—" if math.isnan(value) or math.isinf(value) else format(value, spec)


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
        self._cells = self._epochs = self._load = None

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def loading(self, what: str, done: int, total: int) -> None:
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


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


class LineReporter(Reporter):
    """Progress as plain lines on stderr (a worker whose launcher draws the display)."""

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(self, *exc) -> None: ...

    def warning(self, message: str) -> None:
        err_console.print(f"warning: {message}", highlight=False, markup=False)

    def cell_done(self, outcome: CellOutcome) -> None:
        cell = outcome.cell
        if outcome.status == "failed":
            line = f"✗ {cell.name} failed: {outcome.error}"
        elif outcome.status == "skipped":
            line = f"↷ {cell.name}: already finished (run {outcome.run_id})"
        else:
            m = outcome.metrics
            line = (
                f"✓ {cell.name}: test accuracy {m['test/accuracy']:.3f}, "
                f"F1 {m['test/f1_weighted']:.3f} in {outcome.seconds:.1f}s"
            )
        err_console.print(line, highlight=False, markup=False)


def _worker_rows(snap: Any) -> Table:
    out = Table("worker", "host", "device", "cell", "doing", "epoch", "val score", box=None)
    for w in snap.workers:
        epoch = "" if w.epoch is None else f"{w.epoch}" + (f"/{w.epochs}" if w.epochs else "")
        score = "" if w.score is None else f"{w.score:.3f}"
        out.add_row(w.worker, w.host, w.device, escape(w.cell), escape(w.activity), epoch, score)
    return out


class WorkersDisplay:
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

    def update(self, snap: Any) -> None:
        self.progress.update(self._cells, total=len(snap.cells), completed=snap.ended)
        if snap.workers:
            self.live.update(self._group(self.progress, _worker_rows(snap)))
        else:
            self.live.update(self.progress)

    def log(self, line: str) -> None:
        self.live.console.print(line, highlight=False, markup=False)


_STATE_STYLE = {"finished": "green", "skipped": "dim", "failed": "red", "running": "cyan"}


def render_status(suite: str, snap: Any) -> None:
    """``medbench status``: every cell's state, then what each worker is doing."""
    counts = ", ".join(
        f"{n} {s}"
        for s in ("queued", "running", "finished", "skipped", "failed", "not queued")
        if (n := snap.count(s))
    )
    out = Table("cell", "state", "trials", "worker", "run", "note", title=f"{suite}: {counts}",
                title_justify="left")  # fmt: skip
    for cell in snap.cells:
        style = _STATE_STYLE.get(cell.state, "")
        out.add_row(
            escape(cell.name),
            f"[{style}]{cell.state}[/]" if style else cell.state,
            cell.trials or "",
            cell.worker or "",
            cell.run_id or "",
            escape((cell.error or "")[:80]),
        )
    print_table(out)
    if snap.workers:
        print_table(_worker_rows(snap))
