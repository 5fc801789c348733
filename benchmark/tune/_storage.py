"""Where studies live: resolving and opening Optuna storages, safely for several processes.

A storage URL with a scheme (``postgresql://``, ``mysql://``, ``sqlite:///``) is an Optuna
RDB storage; anything else is the path of an Optuna journal file (``JournalFileBackend``,
which Optuna documents as safe for several processes on one host). The default is the
journal ``mlruns/optuna.journal``: SQLite is not safe for several processes. RDB storages
are created under a lock (PostgreSQL's advisory lock, or a file lock beside a SQLite file)
so that workers starting together never race on the schema, and record heartbeats, so that
the trials of a worker that died on another machine are failed and retried.

What a process holds is stamped on its trials (host, pid, worker, device); a trial whose
owner died is failed by whoever notices first (a pid that no longer exists on this host, or
a heartbeat older than the grace period).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from benchmark._process import owner_is_dead, stamp
from benchmark.errors import MedbenchError
from benchmark.settings import settings, storage_url

__all__ = [
    "STORAGE_HELP",
    "check_storage",
    "claim_waiting",
    "fail_dead_trials",
    "heartbeat",
    "open_storage",
    "resolve_storage",
]

STORAGE_HELP = "--storage or MEDBENCH_STORAGE"
CONNECT_TIMEOUT_S = 5

# Heartbeats and stale-trial failing are marked experimental since Optuna 2.9; medbench relies
# on them as documented, so the warning is not repeated for every storage and trial.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
_OPEN: dict[str, BaseStorage] = {}
_LOCK = threading.Lock()


def resolve_storage(url: str | None = None) -> str:
    """``url``, else ``MEDBENCH_STORAGE``, else the journal file ``<cwd>/mlruns/optuna.journal``."""
    return storage_url(url)


def is_journal(url: str) -> bool:
    return "://" not in url


def heartbeat_seconds() -> int:
    """Seconds between heartbeats of RDB trials (``MEDBENCH_HEARTBEAT_S``, default 30); a
    trial is stale, and failed, after three missed beats."""
    return settings().heartbeat_s


def open_storage(url: str | None = None) -> BaseStorage:
    """The storage at ``url`` (see :func:`resolve_storage`), opened once per process."""
    url = resolve_storage(url)
    with _LOCK:
        if url not in _OPEN:
            _OPEN[url] = _open_journal(Path(url)) if is_journal(url) else _open_rdb(url)
        return _OPEN[url]


def check_storage(url: str | None = None) -> str:
    """Fail within seconds, with the URL and the flag that set it, when the storage cannot be
    reached or written; return the resolved URL."""
    url = resolve_storage(url)
    if is_journal(url):
        path = Path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab"):
                pass
        except OSError as exc:
            raise MedbenchError(
                f"cannot write the Optuna journal {path}: {exc.strerror or exc}. Point "
                f"{STORAGE_HELP} at a writable file (or a postgresql:// URL)."
            ) from None
        return url
    parts = urlsplit(url)
    if parts.hostname and not parts.scheme.startswith("sqlite"):
        port = parts.port or {"postgresql": 5432, "mysql": 3306}.get(parts.scheme.split("+")[0])
        _check_reachable(parts.hostname, port, what=f"the Optuna storage {_redact(url)}")
    open_storage(url)
    return url


def _check_reachable(host: str, port: int | None, *, what: str) -> None:
    if port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise MedbenchError(
            f"cannot reach {what} ({host}:{port}: {exc.strerror or exc}). Start it, or point "
            f"{STORAGE_HELP} elsewhere."
        ) from None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _open_journal(path: Path) -> BaseStorage:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise MedbenchError(
            f"cannot open the Optuna journal {path}: {exc.strerror or exc}. Point "
            f"{STORAGE_HELP} at a writable file."
        ) from None
    return storage


def _open_rdb(url: str) -> BaseStorage:
    engine_kwargs = {}
    if url.startswith("postgresql"):
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    interval = heartbeat_seconds()
    try:
        with _creation_lock(url):
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval,
                grace_period=3 * interval,
            )
    except MedbenchError:
        raise
    except Exception as exc:
        raise MedbenchError(
            f"cannot open the Optuna storage {_redact(url)}: {exc}. Check the URL, or point "
            f"{STORAGE_HELP} elsewhere."
        ) from exc


@contextlib.contextmanager
def _creation_lock(url: str) -> Iterator[None]:
    """Hold the lock under which a storage's tables are created: PostgreSQL's advisory lock,
    or a file lock beside a SQLite file. Both end with the process that holds them."""
    if url.startswith("sqlite:///"):
        from filelock import FileLock

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock"):
            yield
        return
    if url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, poolclass=sqlalchemy.NullPool
        )
        with engine.connect() as connection:
            key = sqlalchemy.text("SELECT pg_advisory_lock(hashtext('medbench.optuna-schema'))")
            connection.execute(key)
            try:
                yield
            finally:
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(hashtext('medbench.optuna-schema'))")
                )
        engine.dispose()
        return
    yield


def claim_waiting(storage: BaseStorage, trial: FrozenTrial) -> bool:
    """Atomically move a WAITING trial to RUNNING (what ``Study.ask`` does for enqueued
    trials): True for exactly one of the processes that try, then stamped with its owner."""
    try:
        if not storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
            return False
    except UpdateFinishedTrialError:
        return False
    for key, value in stamp().items():
        storage.set_trial_user_attr(trial._trial_id, key, value)
    return True


def fail_dead_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Fail the RUNNING trials whose owner died (a pid gone from this host, or a heartbeat
    older than the grace period of an RDB storage); return them as they were."""
    storage = study._storage
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        if owner_is_dead(trial.user_attrs.get("host"), trial.user_attrs.get("pid")):
            with contextlib.suppress(UpdateFinishedTrialError):
                storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    if running:
        optuna.storages.fail_stale_trials(study)
    failed = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    return [t for t in running if t.number in failed]


@contextlib.contextmanager
def heartbeat(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the storage's heartbeat for ``trial_id`` while the block runs (RDB storages;
    nothing for the journal, whose trials are owned by pids on one host)."""
    inner = getattr(storage, "_backend", storage)  # Study wraps an RDBStorage in a cache
    if not isinstance(inner, RDBStorage) or (interval := inner.get_heartbeat_interval()) is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is retried at the next one
                inner.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 1)
