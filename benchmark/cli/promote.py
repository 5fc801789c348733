"""``medbench promote``: register each dataset's best cell in the MLflow Model Registry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from benchmark.cli._common import TRACKING_HELP
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.promote import Choice, Promotion


def promote(
    suite: str = typer.Argument(None, help="Suite YAML file or experiment name."),
    metric: str = typer.Option("test/f1_weighted", help="Test metric that ranks the cells."),
    name: str | None = typer.Option(
        None, help="Registered model name (default: {suite}-{dataset}); needs one dataset."
    ),
    alias: str = typer.Option("champion", help="Alias set on the promoted version."),
    dataset: str | None = typer.Option(None, help="Promote this dataset's best cell only."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the choice, register nothing."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Register the best finished cell of each dataset (by METRIC) and point ALIAS at it."""
    from benchmark import track
    from benchmark.cli._common import resolve_suite
    from benchmark.promote import promote as run_promotion

    store = track.connect(tracking_uri)
    promotions = run_promotion(
        store, suite=resolve_suite(store, suite)[0], metric=metric, alias=alias,
        dataset=dataset, name=name, dry_run=dry_run,
    )  # fmt: skip
    for promotion in promotions:
        render_promotion(promotion)


def render_promotion(promotion: Promotion) -> None:
    """A dataset's ranking, then what became of its chosen cell."""
    render_choice(promotion.choice)
    target, alias = promotion.model, promotion.alias
    if target is None:
        console.print(f"[red]{promotion.choice.dataset}: no finished cell to promote.[/]")
    elif promotion.version is None:
        console.print(f"dry run: would register run {promotion.run_id} as {target} @{alias}")
    else:
        state = "registered as new version" if promotion.created else "already registered: version"
        console.print(
            f"[green]{promotion.cell}[/] {state} {promotion.version} of "
            f"[bold]{target}[/], alias @{alias} → models:/{target}@{alias}"
        )


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
