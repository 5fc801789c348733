"""``medbench ui``: the MLflow UI on the configured store."""

from __future__ import annotations

import os
import sys

import typer

from benchmark.cli._common import TRACKING_HELP


def ui(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(5000, help="Port."),
    tracking_uri: str | None = typer.Option(None, help=TRACKING_HELP),
) -> None:
    """Open the MLflow UI on medbench's store (Ctrl-C stops it)."""
    from benchmark import track

    uri = track.resolve_tracking_uri(tracking_uri)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    os.execvp(command[0], [*command, "--host", host, "--port", str(port)])
