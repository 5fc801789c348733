"""``medbench suite``: validate, show and describe suite files."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from benchmark.cli._common import Set, SuiteFile
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.suite import Cell

app = typer.Typer(help="Check and inspect suite files.", no_args_is_help=True)


@app.command()
def validate(suite: SuiteFile, set_: Set = None) -> None:
    """Check SUITE without running anything; exit 1 with every problem found."""
    from benchmark.checks import load_checked_suite
    from benchmark.suite import expand_cells

    spec = load_checked_suite(suite, overrides=set_ or [])
    console.print(
        f"[green]✓[/] {suite} is valid: suite '{spec.name}', {_cells(len(expand_cells(spec)))}."
    )


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


@app.command()
def show(suite: SuiteFile, set_: Set = None) -> None:
    """Print SUITE with every default filled in, and its cells."""
    import yaml

    from benchmark.checks import load_checked_suite
    from benchmark.suite import expand_cells

    spec = load_checked_suite(suite, overrides=set_ or [])
    console.out(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), highlight=False)
    render_cells(expand_cells(spec))


@app.command()
def schema() -> None:
    """Print the JSON schema of suite files, with every strategy's, explanation method's and
    layout's settings."""
    from benchmark.checks import suite_schema

    console.out(json.dumps(suite_schema(), indent=2), highlight=False)


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
