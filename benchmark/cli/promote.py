"""``medbench promote``: register each dataset's best cell in the MLflow Model Registry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from benchmark.cli._common import SuiteOrExperiment, Tracking
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.promote import Choice, Promotion


def promote(
    suite: SuiteOrExperiment = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Test metric that ranks the cells (default: test/auroc_macro for binary and "
            "multi-label datasets, else test/f1_weighted)."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Registered model name (default: {suite}-{dataset}); needs one dataset."),
    ] = None,
    alias: Annotated[str, typer.Option(help="Alias set on the promoted version.")] = "champion",
    dataset: Annotated[
        str | None, typer.Option(help="Promote this dataset's best cell only.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the choice, register nothing.")
    ] = False,
    tracking_uri: Tracking = None,
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
