"""Opening the store: where it is, a SQLite store created and migrated once, a tracking server
that must answer within seconds, a store that must accept writes, and MLflow's client retried
while another process holds SQLite's lock. Also the experiments, which every part needs."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from benchmark.errors import TrackingError
from benchmark.settings import TRACKING_VARIABLE, tracking_uri
from benchmark.track._keys import EXPERIMENT_KIND

_WHERE = f"--tracking-uri or {TRACKING_VARIABLE}"  # how a user points medbench at another store
CONNECT_TIMEOUT_S = 5


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def open_client(uri: str | None, *, write: bool) -> tuple[Any, str]:
    """MLflow's client on the store at ``uri`` (resolved), checked, and the resolved URI.

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

    uri = tracking_uri(uri)
    db = sqlite_path(uri)
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
    return _Retrying(client), uri


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
            f"cannot write the MLflow store {db}: {exc.strerror or exc}. Point {_WHERE} at a "
            "writable location."
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
            f"the MLflow store {db} cannot be written ({reason}). Point {_WHERE} at a "
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
            f"{_WHERE} elsewhere."
        ) from None


class _Retrying:
    """An MlflowClient whose calls are retried while a SQLite store is locked by another
    process (several workers write to one store)."""

    _DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            for delay in (*self._DELAYS, None):
                try:
                    return attr(*args, **kwargs)
                except Exception as exc:
                    if delay is None or "database is locked" not in str(exc):
                        raise
                    time.sleep(delay)
            return None  # not reached

        return call


class StoreBase:
    """What every part of the store's face stands on: the open client and its experiments."""

    def __init__(self, client: Any, tracking_uri: str) -> None:
        self._client, self._uri = client, tracking_uri

    @property
    def tracking_uri(self) -> str:
        """The store's URI, resolved (what ``medbench ui`` and workers open)."""
        return self._uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._uri!r})"

    def experiment_id(self, name: str) -> str | None:
        """The id of experiment ``name`` (one per suite), ``None`` when there is none."""
        experiment = self._client.get_experiment_by_name(name)
        return None if experiment is None else experiment.experiment_id

    def ensure_experiment(self, name: str) -> str:
        """The id of experiment ``name``, created (artifacts beside a SQLite store) if needed,
        as a model-training experiment (MLflow's UI opens it on its runs table)."""
        kind, value = EXPERIMENT_KIND
        client = self._client
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            db = sqlite_path(self._uri)
            location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
            try:
                return client.create_experiment(
                    name, artifact_location=location, tags={kind: value}
                )
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
