"""The store's one face: :func:`connect` opens it, :class:`Store` offers what medbench reads
and writes there; MLflow's UI is addressed from here too."""

from __future__ import annotations

import sys

from benchmark.track._connection import open_client
from benchmark.track._logging import Logging
from benchmark.track._models import Models


class Store(Logging, Models):
    """An open MLflow tracking store, its calls retried while another process holds a SQLite
    store's lock. Everything medbench records or reads goes through it:

    - experiments: ``tracking_uri``, ``experiment_id``, ``ensure_experiment``;
    - queries: ``suites``, ``cell_runs``, ``finished_cell``, ``summary_run``,
      ``suite_analysis``, ``run_metrics``, ``metric_history``, ``dataset_profiles``,
      ``artifact_files``, ``artifact_text``, ``download_artifact``;
    - runs: ``start_run`` (a :class:`~benchmark.track.RunLog`), ``start_summary_run``,
      ``log_report``, ``mark_dead_runs_failed``, ``fail_runs``, ``adopt_trial_runs``;
    - models: ``register_model``, ``resolve_model``, ``champion_uri``.

    Made by :func:`connect`, never directly.
    """


def connect(uri: str | None = None, *, write: bool = False) -> Store:
    """Open the store at ``uri`` (else ``MLFLOW_TRACKING_URI``, else
    ``sqlite:///<cwd>/mlruns/mlflow.db``), within seconds when it cannot be reached; with
    ``write``, refused in one line when it cannot be written (checked before any work)."""
    client, resolved = open_client(uri, write=write)
    return Store(client, resolved)


def runs_url(server: str, experiment_id: str | None) -> str:
    """The address of an experiment's runs table in the MLflow UI at ``server``. (MLflow
    3.17's UI opens on its GenAI view whatever the experiment's kind, unless the address
    asks for model training.)"""
    base, view = server.rstrip("/"), "?workflowType=machine_learning"
    if experiment_id is None:
        return f"{base}/#/{view}"
    return f"{base}/#/experiments/{experiment_id}/runs{view}"


def ui_command(tracking_uri: str, *, host: str, port: int) -> list[str]:
    """The command line of the MLflow UI on the store at ``tracking_uri``."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
            "--host", host, "--port", str(port)]  # fmt: skip
