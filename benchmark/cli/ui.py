"""``medbench ui``: the MLflow UI on the configured store."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from benchmark.cli._common import SuiteOrExperiment, Tracking, resolve_suite


def ui(
    suite: SuiteOrExperiment = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
    tracking_uri: Tracking = None,
) -> None:
    """Open the MLflow UI on medbench's store (Ctrl-C stops it); print the suite's runs view."""
    from benchmark import track
    from benchmark.console import console
    from benchmark.errors import TrackingError

    store = track.connect(tracking_uri)
    server = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    try:
        name, _ = resolve_suite(store, suite)
    except TrackingError:  # no results yet, or several suites: the list of experiments
        if suite is not None:
            raise
        name = None
    experiment_id = store.experiment_id(name) if name else None
    where = f"{name}'s runs" if experiment_id else "the experiments"
    console.print(f"MLflow UI, {where}: {track.runs_url(server, experiment_id)}")
    command = track.ui_command(store.tracking_uri, host=host, port=port)
    os.execvp(command[0], command)
