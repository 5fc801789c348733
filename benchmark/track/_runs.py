"""Runs: store location, run naming, logging and querying."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark._process import owner_is_dead, stamp
from benchmark.errors import TrackingError

TAG = "medbench."
KIND_CELL, KIND_TRIAL, KIND_SUITE = "cell", "trial", "suite"
PARENT = "mlflow.parentRunId"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def connect(uri: str | None = None):
    """Point MLflow at the store and return a client; a local SQLite store is created."""
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.store.sqlalchemy_store"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(f"cannot open the MLflow store at {uri}: {exc}") from exc
    return client


def ensure_experiment(client, name: str) -> str:
    """The id of experiment ``name``, created (artifacts beside a SQLite store) if needed."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        db = _sqlite_path(client.tracking_uri)
        location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
        return client.create_experiment(name, artifact_location=location)
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"MLflow experiment '{name}' was deleted. Restore it (MLflow UI, or "
            f"`mlflow experiments restore --experiment-id {experiment.experiment_id}`), "
            "or give the suite another name."
        )
    return experiment.experiment_id


def find_finished_cell(client, experiment_id: str, config_hash: str) -> str | None:
    """The id of a FINISHED cell run with this config hash, if there is one."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{TAG}kind` = '{KIND_CELL}' and tags.`{TAG}config_hash` = '{config_hash}' "
            "and attributes.status = 'FINISHED'"
        ),
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def mark_dead_runs_failed(client, experiment_id: str) -> list[str]:
    """Mark FAILED the runs left RUNNING by a process of this host that no longer exists."""
    dead = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if owner_is_dead(tags.get(f"{TAG}host"), tags.get(f"{TAG}pid")):
            client.set_terminated(run.info.run_id, status="FAILED")
            dead.append(run.info.run_id)
    return dead


def adopt_trial_runs(client, experiment_id: str, *, study: str, parent_run_id: str) -> int:
    """Move the finished trial runs of ``study`` (kept by an interrupted cell run) under
    ``parent_run_id``, so the cell that finishes shows every trial of its study."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{TAG}kind` = '{KIND_TRIAL}' and tags.`{TAG}study` = '{study}' "
            "and attributes.status = 'FINISHED'"
        ),
    )
    moved = 0
    for run in runs:
        if run.data.tags.get(PARENT) != parent_run_id:
            client.set_tag(run.info.run_id, PARENT, parent_run_id)
            moved += 1
    return moved


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings → ``{"train.lr": "0.001", ...}`` (lists as JSON) for MLflow params."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return out


class RunLog:
    """Logging handle of one MLflow run (explicit run id, no global active run)."""

    def __init__(self, client, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_dict(self, obj: Any, path: str) -> None:
        self.client.log_dict(self.run_id, obj, path)

    def log_text(self, text: str, path: str) -> None:
        self.client.log_text(self.run_id, text, path)

    def log_figure(self, figure: Any, path: str) -> None:
        import matplotlib.pyplot as plt

        self.client.log_figure(self.run_id, figure, path)
        plt.close(figure)

    def log_array(self, array: Any, path: str) -> None:
        """A numpy array as ``.npy`` (read back with ``numpy.load(allow_pickle=False)``)."""
        import tempfile

        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(path).name
            np.save(local, array, allow_pickle=False)
            self.client.log_artifact(self.run_id, str(local), str(Path(path).parent))


@contextmanager
def start_run(
    client,
    experiment_id: str,
    *,
    name: str,
    kind: str,
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Iterator[RunLog]:
    """A run: FINISHED on success, KILLED on Ctrl-C, FAILED (with the error) otherwise."""
    all_tags = {f"{TAG}kind": kind, **{f"{TAG}{k}": v for k, v in stamp().items()}, **tags}
    if parent_run_id is not None:
        all_tags[PARENT] = parent_run_id
    run = client.create_run(experiment_id, run_name=name, tags=all_tags)
    run_id = run.info.run_id
    try:
        yield RunLog(client, run_id)
    except KeyboardInterrupt:
        client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException as exc:
        client.set_tag(run_id, f"{TAG}error", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_terminated(run_id, status="FAILED")
        raise
    else:
        client.set_terminated(run_id, status="FINISHED")


@contextmanager
def start_summary_run(client, experiment_id: str, *, suite: str) -> Iterator[RunLog]:
    """The suite's one ``summary`` run (analyses across cells); an older one is deleted."""
    for old in client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG}kind` = '{KIND_SUITE}'"
    ):
        client.delete_run(old.info.run_id)
    with start_run(
        client, experiment_id, name="summary", kind=KIND_SUITE, tags={f"{TAG}suite": suite}
    ) as run:
        yield run


def load_text(client, run_id: str, path: str) -> str:
    """An artifact's text (``eval/predictions.csv`` of a cell run, say)."""
    import mlflow

    return mlflow.artifacts.load_text(f"{client.get_run(run_id).info.artifact_uri}/{path}")


def find_summary_run(client, suite: str) -> str | None:
    """The id of the suite's finished ``summary`` run, if it has one."""
    experiment = client.get_experiment_by_name(suite)
    runs = (
        []
        if experiment is None
        else client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG}kind` = '{KIND_SUITE}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
    )
    return runs[0].info.run_id if runs else None


def load_suite_analysis(client, suite: str, name: str) -> dict[str, Any]:
    """``{dataset: json}`` of ``analysis/<dataset>/<name>`` on the suite's summary run."""
    run_id = find_summary_run(client, suite)
    if run_id is None:
        return {}
    out = {}
    for folder in client.list_artifacts(run_id, "analysis"):
        names = {a.path for a in client.list_artifacts(run_id, folder.path)}
        if f"{folder.path}/{name}" in names:
            text = load_text(client, run_id, f"{folder.path}/{name}")
            out[folder.path.split("/", 1)[1]] = json.loads(text)
    return out


def log_report(client, suite: str, folder: Path, artifact_path: str) -> str:
    """Log ``folder`` on the suite's summary run (created when the suite has none yet)."""
    run_id = find_summary_run(client, suite)
    if run_id is None:
        experiment_id = ensure_experiment(client, suite)
        with start_summary_run(client, experiment_id, suite=suite) as run:
            run_id = run.run_id
    client.log_artifacts(run_id, str(folder), artifact_path)
    return run_id


def list_suites(client) -> list[str]:
    """Names of experiments holding medbench cell runs."""
    names = []
    for experiment in client.search_experiments():
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG}kind` = '{KIND_CELL}'",
            max_results=1,
        )
        if runs:
            names.append(experiment.name)
    return names


def load_cell_runs(
    client, suite: str, *, latest: bool = True, finished: bool = True
) -> pd.DataFrame:
    """FINISHED cell runs of ``suite`` as a DataFrame (``metrics.*``, ``params.*``, ``tags.*``).

    With ``latest`` only the newest run of each cell is kept; ``finished=False`` keeps runs
    of every status (``status`` says which).
    """
    import mlflow

    experiment = client.get_experiment_by_name(suite)
    if experiment is None:
        known = list_suites(client)
        raise TrackingError(
            f"no MLflow experiment named '{suite}' in {client.tracking_uri}; "
            f"suites with results: {known or 'none yet (run `medbench run SUITE` first)'}."
        )
    mlflow.set_tracking_uri(client.tracking_uri)  # the fluent search reads the global store
    runs = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.`{TAG}kind` = '{KIND_CELL}'"
        + (" and attributes.status = 'FINISHED'" if finished else ""),
        order_by=["attributes.start_time DESC"],
        output_format="pandas",
    )
    if latest and not runs.empty:
        runs = runs.drop_duplicates(subset=[f"tags.{TAG}cell"], keep="first")
    return runs.reset_index(drop=True)
