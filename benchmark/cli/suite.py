"""``medbench suite``: validate, show and describe suite files."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Check and inspect suite files.", no_args_is_help=True)

SetOption = typer.Option([], "--set", help="Override a setting, e.g. --set train.epochs=3.")


@app.command()
def validate(
    suite: Path = typer.Argument(..., help="Suite YAML file."), set_: list[str] = SetOption
) -> None:
    """Check SUITE without running anything; exit 1 with every problem found."""
    from benchmark.console import console
    from benchmark.suite import expand_cells, load_suite

    spec = load_suite(suite, overrides=set_)
    console.print(
        f"[green]✓[/] {suite} is valid: suite '{spec.name}', {_cells(len(expand_cells(spec)))}."
    )


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


@app.command()
def show(
    suite: Path = typer.Argument(..., help="Suite YAML file."), set_: list[str] = SetOption
) -> None:
    """Print SUITE with every default filled in, and its cells."""
    import yaml

    from benchmark.console import console, render_cells
    from benchmark.suite import expand_cells, load_suite

    spec = load_suite(suite, overrides=set_)
    console.out(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), highlight=False)
    render_cells(expand_cells(spec))


@app.command()
def schema() -> None:
    """Print the JSON schema of suite files."""
    from benchmark.console import console
    from benchmark.suite import suite_schema

    console.out(json.dumps(suite_schema(), indent=2), highlight=False)
