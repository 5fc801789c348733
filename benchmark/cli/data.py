"""``medbench data``: dataset utilities."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Dataset utilities.", no_args_is_help=True)


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to create."),
    layout: str = typer.Option("brain-tumor-mri", help="On-disk layout to mimic."),
    per_class: int = typer.Option(20, min=1, help="Images per class."),
    size: int = typer.Option(128, min=16, help="Image size in pixels."),
    seed: int = typer.Option(0, help="Phantom stream."),
    difficulty: float = typer.Option(0.5, min=0.0, max=1.0, help="0 easy … 1 hard."),
) -> None:
    """Write synthetic brain-MRI phantoms (with lesion masks) in a real dataset's layout."""
    from rich.progress import Progress

    from benchmark.console import console
    from benchmark.data import write_synthetic

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("writing phantoms", total=None)
        counts = write_synthetic(
            out,
            layout=layout,
            per_class=per_class,
            size=size,
            seed=seed,
            difficulty=difficulty,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    for split, per in counts.items():
        console.print(f"{out / split}: " + ", ".join(f"{k} {v}" for k, v in per.items()))
