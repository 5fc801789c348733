"""Opening the store: created and migrated once however many processes start together,
refused in one line where it cannot be written, refused within seconds where its server
does not answer."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.errors import TrackingError
from benchmark.settings import tracking_uri
from benchmark.track._connection import CONNECT_TIMEOUT_S
from benchmark.track._keys import EXPERIMENT_KIND
from tests.conftest import ROOT

# Each process loads everything first, says it is ready, waits for the same moment, then
# opens the store, saying whether it was the one that created it.
_OPEN = """
import os, sys, time
from pathlib import Path
import mlflow.store.tracking.sqlalchemy_store
from benchmark import track
from benchmark.track import _connection

created = []
migrate = _connection._migrate_into
_connection._migrate_into = lambda db: created.append(migrate(db))
folder = Path(sys.argv[2])
(folder / f"ready-{os.getpid()}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
track.connect(sys.argv[1], write=True)
print("created" if created else "opened")
"""


def test_processes_opening_an_empty_store_together_migrate_it_once(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    processes = [
        subprocess.Popen([sys.executable, "-c", _OPEN, uri, str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), processes[0].communicate()
        time.sleep(0.05)
    (tmp_path / "go").touch()  # all three at once
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 3, [e[-2000:] for _, e in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["created", "opened", "opened"]
    assert MlflowClient(uri).search_experiments()  # a whole, migrated store
    assert not list((tmp_path / "mlruns").glob(".*.new"))  # no half-made store left


def test_an_unwritable_location_is_refused_in_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    uri = f"sqlite:///{tmp_path}/a-file/mlruns/mlflow.db"
    with pytest.raises(TrackingError) as caught:
        track.connect(uri, write=True)
    message = str(caught.value)
    assert "\n" not in message and caught.value.__cause__ is None
    assert message.startswith(f"cannot write the MLflow store {tmp_path}/a-file/mlruns/mlflow.db")
    assert message.endswith("Point --tracking-uri or MLFLOW_TRACKING_URI at a writable location.")


def test_a_tracking_server_that_does_not_answer_is_refused_within_seconds():
    with socket.socket() as mute:  # accepts connections, never says a word
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        url = f"http://127.0.0.1:{mute.getsockname()[1]}"
        start = time.monotonic()
        where = re.escape(f"cannot reach the MLflow tracking server at {url} (")
        with pytest.raises(TrackingError, match=f"{where}.*point --tracking-uri or MLFLOW"):
            track.connect(url)
        elapsed = time.monotonic() - start
    assert CONNECT_TIMEOUT_S <= elapsed < 15  # its own timeout, not MLflow's minutes of retries


def test_the_store_resolves_its_location_and_reports_it(tmp_path, monkeypatch, _migrated_store):
    shutil.copy(_migrated_store, tmp_path / "env.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    assert tracking_uri() == f"sqlite:///{tmp_path}/env.db"
    assert tracking_uri("sqlite:///given.db") == "sqlite:///given.db"
    assert track.connect().tracking_uri == f"sqlite:///{tmp_path}/env.db"
    assert not (tmp_path / "mlruns").exists()  # the default was not touched


def test_an_experiment_is_made_once_as_model_training_and_a_deleted_one_is_refused(store):
    assert store.experiment_id("suite") is None
    made = store.ensure_experiment("suite")
    assert store.ensure_experiment("suite") == made == store.experiment_id("suite")
    client = MlflowClient(store.tracking_uri)
    experiment = client.get_experiment(made)
    assert experiment.tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1]
    db = store.tracking_uri.removeprefix("sqlite:///")
    assert experiment.artifact_location.endswith(f"{db.rsplit('/', 1)[0]}/artifacts")
    client.delete_experiment(made)
    with pytest.raises(TrackingError, match=r"'suite' was deleted\. Restore it"):
        store.ensure_experiment("suite")
