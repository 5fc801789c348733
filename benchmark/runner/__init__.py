"""Runs a suite: every cell tuned, trained, evaluated once on its test split, and tracked.

The only package that decides what is logged. Datasets are indexed and split before any
training (bad data fails fast); images are decoded once per dataset and size and shared by
the cells that use them. Per cell: an Optuna study on train/val (each trial a nested MLflow
run), then the final training with the best settings (once per seed), then the test split,
touched once. A failing cell is recorded as FAILED and the others still run; cells already
FINISHED with the same config hash are skipped; an interrupted study resumes. Analyses
across cells go to the suite's summary run.
"""

from __future__ import annotations

from benchmark import track
from benchmark.data import default_cache
from benchmark.runner._cell import run_cell
from benchmark.runner._context import CellOutcome, Context, Dataset, Reporter, index_dataset
from benchmark.runner._summary import summarise_suite
from benchmark.suite import Suite, expand_cells
from benchmark.train import resolve_device

__all__ = ["CellOutcome", "Dataset", "Reporter", "index_dataset", "run_suite"]


def run_suite(
    suite: Suite,
    *,
    tracking_uri: str | None = None,
    storage: str | None = None,
    device: str = "auto",
    resume: bool = True,
    reporter: Reporter | None = None,
) -> list[CellOutcome]:
    """Run every cell of ``suite``; return one outcome per cell, in grid order."""
    reporter = reporter or Reporter()
    torch_device = resolve_device(device)
    cells = expand_cells(suite)
    cache = default_cache()
    datasets = {
        name: index_dataset(name, cfg, suite.seed, suite.audit, reporter, cache)
        for name, cfg in suite.datasets.items()
        if any(cell.dataset == name for cell in cells)
    }
    client = track.connect(tracking_uri)
    experiment_id = track.ensure_experiment(client, suite.name)
    track.mark_dead_runs_failed(client, experiment_id)
    context = Context(client, experiment_id, storage, torch_device, reporter)

    outcomes = []
    for index, cell in enumerate(cells, start=1):
        reporter.cell_started(cell, index, len(cells))
        done = track.find_finished_cell(client, experiment_id, cell.config_hash) if resume else None
        if done is not None:
            outcome = CellOutcome(cell, "skipped", run_id=done)
        else:
            outcome = run_cell(cell, datasets[cell.dataset], context)
        outcomes.append(outcome)
        reporter.cell_done(outcome)
    summarise_suite(suite, context)
    return outcomes
