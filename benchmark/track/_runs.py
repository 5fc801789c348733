"""Runs: store location, run naming, logging and querying."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark._process import owner_is_dead, stamp
from benchmark.errors import TrackingError
from benchmark.settings import settings, tracking_uri

TAG = "medbench."
KIND_CELL, KIND_TRIAL, KIND_SUITE = "cell", "trial", "suite"
PARENT = "mlflow.parentRunId"
# MLflow 3's kind of experiment: model training (runs), not GenAI (traces).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def tag_column(name: str) -> str:
    """The column of tag ``medbench.<name>`` in the runs tables :func:`load_cell_runs` gives."""
    return f"tags.{TAG}{name}"


def metric_column(key: str) -> str:
    """The column of metric ``key`` (``test/accuracy``) in those tables."""
    return f"metrics.{key}"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    return tracking_uri(uri)


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


TRACKING_HELP = "--tracking-uri or MLFLOW_TRACKING_URI"
CONNECT_TIMEOUT_S = 5


def connect(uri: str | None = None, *, write: bool = False):
    """Point MLflow at the store and return a client.

    A tracking server must answer within seconds; a local SQLite store is created (and
    migrated) once, under a file lock, in a temporary file renamed into place, so processes
    that start together never race on the schema and a kill never leaves half a store. With
    ``write`` the store must also accept writes (checked before any work starts).
    """
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.store.sqlalchemy_store"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None:
        _create_sqlite_store(db, write=write)
    elif uri.startswith(("http://", "https://")):
        _check_server(uri)
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(f"cannot open the MLflow store at {uri}: {exc}") from exc
    return _Retrying(client)


def _create_sqlite_store(db: Path, *, write: bool) -> None:
    from filelock import FileLock

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        if not (db.is_file() and db.stat().st_size):
            with FileLock(f"{db}.lock"):
                if not (db.is_file() and db.stat().st_size):
                    _migrate_into(db)
        if write:
            _check_writable(db)
    except OSError as exc:
        raise TrackingError(
            f"cannot write the MLflow store {db}: {exc.strerror or exc}. Point "
            f"{TRACKING_HELP} at a writable location."
        ) from None


def _migrate_into(db: Path) -> None:
    """Create and migrate a SQLite store beside ``db``, then rename it to ``db``."""
    from mlflow import MlflowClient

    tmp = db.with_name(f".{db.name}.{os.getpid()}.new")
    tmp.unlink(missing_ok=True)
    try:
        MlflowClient(f"sqlite:///{tmp}").search_experiments(max_results=1)
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def _check_writable(db: Path) -> None:
    """Take SQLite's write lock once (and the artifact folder beside it), then let go."""
    import sqlite3
    import tempfile

    try:
        connection = sqlite3.connect(db, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        finally:
            connection.close()
        artifacts = db.parent / "artifacts"
        artifacts.mkdir(exist_ok=True)
        tempfile.TemporaryFile(dir=artifacts).close()
    except (sqlite3.Error, OSError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise TrackingError(
            f"the MLflow store {db} cannot be written ({reason}). Point {TRACKING_HELP} at a "
            "writable location; reading commands (leaderboard, report) still work on it."
        ) from None


def _check_server(uri: str) -> None:
    """A tracking server that does not answer within seconds is reported at once (MLflow's
    own retries would wait minutes)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=CONNECT_TIMEOUT_S):
            return
    except urllib.error.HTTPError:
        return  # it answers (an auth proxy, say): MLflow's own calls say what is wrong
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} ({reason}). Start it, or point "
            f"{TRACKING_HELP} elsewhere."
        ) from None


class _Retrying:
    """An MlflowClient whose calls are retried while a SQLite store is locked by another
    process (several workers write to one store)."""

    _DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            for delay in (*self._DELAYS, None):
                try:
                    return attr(*args, **kwargs)
                except Exception as exc:
                    if delay is None or "database is locked" not in str(exc):
                        raise
                    time.sleep(delay)
            return None  # not reached

        return call


def ensure_experiment(client, name: str) -> str:
    """The id of experiment ``name``, created (artifacts beside a SQLite store) if needed,
    as a model-training experiment (MLflow's UI opens it on its runs table)."""
    kind, value = EXPERIMENT_KIND
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        db = _sqlite_path(client.tracking_uri)
        location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
        try:
            return client.create_experiment(name, artifact_location=location, tags={kind: value})
        except Exception:  # created by another process at the same moment
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"MLflow experiment '{name}' was deleted. Restore it (MLflow UI, or "
            f"`mlflow experiments restore --experiment-id {experiment.experiment_id}`), "
            "or give the suite another name."
        )
    if experiment.tags.get(kind) != value:  # made before medbench set its kind
        client.set_experiment_tag(experiment.experiment_id, kind, value)
    return experiment.experiment_id


def runs_url(server: str, experiment_id: str | None) -> str:
    """The address of an experiment's runs table in the MLflow UI at ``server``. (MLflow
    3.17's UI opens on its GenAI view whatever the experiment's kind, unless the address
    asks for model training.)"""
    base, view = server.rstrip("/"), "?workflowType=machine_learning"
    if experiment_id is None:
        return f"{base}/#/{view}"
    return f"{base}/#/experiments/{experiment_id}/runs{view}"


def log_datasets(
    client, run_id: str, *, name: str, source: Mapping[str, str], table: pd.DataFrame
) -> None:
    """A cell's data as MLflow dataset inputs of its run, one per split (contexts train,
    validation, test), each with a digest over its images' content hashes and labels: two
    runs on the same split show the same digests."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    columns = [{"type": "string", "name": c} for c in ("id", "label", "group", "sha256")]
    inputs = []
    for split, context in (("train", "train"), ("val", "validation"), ("test", "test")):
        rows = table[table["split"] == split]
        if rows.empty:
            continue
        pairs = zip(rows["sha256"], rows["label"], strict=True)
        lines = sorted(f"{content} {label}" for content, label in pairs)
        digest = hashlib.sha256("\n".join([split, *lines]).encode()).hexdigest()[:16]
        counts = {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()}
        dataset = Dataset(
            name=name,
            digest=digest,
            source_type="medbench",
            source=json.dumps(dict(source), sort_keys=True),
            schema=json.dumps({"mlflow_colspec": columns}),
            profile=json.dumps({"num_rows": len(rows), "classes": counts}),
        )
        inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)]))
    try:
        client.log_inputs(run_id, datasets=inputs)
    except Exception:  # another worker stored the same dataset at the same moment
        time.sleep(0.5)
        client.log_inputs(run_id, datasets=inputs)  # now it finds it


def dataset_profiles(client, run_id: str) -> dict[str, dict]:
    """Per context (train, validation, test), the profile of the dataset input a cell run
    logged (``num_rows``, ``classes``); empty for runs logged before datasets were."""
    profiles = {}
    for entry in client.get_run(run_id).inputs.dataset_inputs or []:
        context = next((t.value for t in entry.tags if t.key == "mlflow.data.context"), None)
        with contextlib.suppress(TypeError, ValueError):
            if context:
                profiles[context] = json.loads(entry.dataset.profile or "{}")
    return profiles


def system_metrics_interval() -> float | None:
    """Seconds between samples of the system metrics of cell and trial runs
    (``MEDBENCH_SYSTEM_METRICS``: 10 by default, ``off`` for none)."""
    setting = settings().system_metrics
    return None if isinstance(setting, str) else setting


@contextmanager
def _system_metrics(client, run_id: str, enabled: bool) -> Iterator[None]:
    """MLflow's own monitor of CPU, memory, disk, network and (with nvidia-ml-py) GPU use,
    sampled into ``system/*`` metrics of the run while it runs."""
    interval = system_metrics_interval() if enabled else None
    if interval is None:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    monitor = SystemMetricsMonitor(
        run_id, sampling_interval=interval, tracking_uri=client.tracking_uri
    )
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


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


def fail_runs(client, run_ids: list[str]) -> list[str]:
    """End as FAILED those of ``run_ids`` still RUNNING (their worker died, on any host)."""
    ended = []
    for run_id in run_ids:
        try:
            run = client.get_run(run_id)
        except Exception:  # deleted meanwhile
            continue
        if run.info.status == "RUNNING":
            client.set_terminated(run_id, status="FAILED")
            ended.append(run_id)
    return ended


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
    system_metrics: bool = False,
) -> Iterator[RunLog]:
    """A run: FINISHED on success, KILLED on Ctrl-C, FAILED (with the error) otherwise; with
    ``system_metrics``, MLflow's system metrics sampled while it runs."""
    all_tags = {f"{TAG}kind": kind, **{f"{TAG}{k}": v for k, v in stamp().items()}, **tags}
    if parent_run_id is not None:
        all_tags[PARENT] = parent_run_id
    run = client.create_run(experiment_id, run_name=name, tags=all_tags)
    run_id = run.info.run_id
    try:
        with _system_metrics(client, run_id, system_metrics):
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
    """The suite's ``summary`` run (analyses across cells). Once it has finished, the older
    ones are deleted, but never one still being written (two runs of a suite that end
    together each write theirs; readers take the newest)."""
    with start_run(
        client, experiment_id, name="summary", kind=KIND_SUITE, tags={f"{TAG}suite": suite}
    ) as run:
        yield run
    started = client.get_run(run.run_id).info.start_time
    for old in client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG}kind` = '{KIND_SUITE}'"
    ):
        info = old.info
        if info.run_id != run.run_id and info.status != "RUNNING" and info.start_time <= started:
            with contextlib.suppress(Exception):  # deleted by another process meanwhile
                client.delete_run(info.run_id)


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
            order_by=["attributes.start_time DESC"],
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
