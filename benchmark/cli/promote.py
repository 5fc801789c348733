"""``medbench promote``: register each dataset's best cell in the MLflow Model Registry."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from benchmark.cli._common import TRACKING_HELP
from benchmark.console import console, print_table

if TYPE_CHECKING:
    from benchmark.promote import Choice


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
    import tempfile
    from pathlib import Path

    from benchmark import track
    from benchmark.cli._common import resolve_suite_name
    from benchmark.errors import MedbenchError
    from benchmark.promote import choose_champions, model_card, model_name, version_tags

    metric = metric if "/" in metric else f"test/{metric}"
    store = track.connect(tracking_uri)
    suite_name = resolve_suite_name(store, suite)
    runs = store.cell_runs(suite_name, finished=False)
    choices = choose_champions(runs, metric=metric)
    if dataset is not None:
        choices = [c for c in choices if c.dataset == dataset]
        if not choices:
            known = sorted(runs[track.tag_column("dataset")].dropna().unique())
            raise MedbenchError(f"--dataset {dataset}: suite '{suite_name}' has {known}.")
    if name is not None and len(choices) > 1:
        raise MedbenchError(
            f"--name {name} names one model, but suite '{suite_name}' has "
            f"{len(choices)} datasets: add --dataset."
        )
    paired = {} if dry_run else store.suite_analysis(suite_name, "paired_tests.json")
    promoted = 0
    for choice in choices:
        render_choice(choice)
        if choice.winner is None:
            console.print(f"[red]{choice.dataset}: no finished cell to promote.[/]")
            continue
        target = name or model_name(suite_name, choice.dataset)
        run_id = choice.winner["run_id"]
        if dry_run:
            console.print(f"dry run: would register run {run_id} as {target} @{alias}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            source = store.resolve_model(f"runs:/{run_id}/model", Path(tmp))  # verified
        sha = source.sha256 or track.weights_sha256(source.folder)  # a run logged before hashes
        tags = version_tags(choice.winner, metric=metric, weights_sha256=sha)
        cell = choice.winner[track.tag_column("cell")]
        verdict = paired.get(choice.dataset, {}).get("cells", {}).get(cell)
        card = model_card(choice.winner, metric=metric, verdict=verdict,
                          splits=store.dataset_profiles(run_id))  # fmt: skip
        version, created = store.register_model(
            run_id=run_id, name=target, alias=alias, tags=tags, description=card
        )
        state = "registered as new version" if created else "already registered: version"
        console.print(
            f"[green]{choice.winner[track.tag_column('cell')]}[/] {state} {version} of "
            f"[bold]{target}[/], alias @{alias} → models:/{target}@{alias}"
        )
        promoted += 1
    if not dry_run and promoted == 0:
        raise MedbenchError("nothing was promoted: no dataset has a finished cell.")


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
