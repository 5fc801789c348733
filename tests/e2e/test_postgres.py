"""Several machines: a real PostgreSQL (throwaway cluster on a free loopback port) for
Optuna, a real ``mlflow server``, and two ``medbench worker`` processes, one of them on
"another machine" (its own host name, through ``unshare --uts``), which is killed mid-trial:
its trials are found by their stale heartbeats, failed and redone."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests._server import free_port
from tests.conftest import write_suite
from tests.e2e._procs import (
    assert_exactly_once,
    finish,
    medbench,
    open_store,
    runs,
    studies,
    wait_until,
)
from tests.e2e.test_parallel import TUNED

pytestmark = pytest.mark.slow

OTHER_HOST = "medbench-other-machine"


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres():
    """``postgresql+psycopg://medbench@127.0.0.1:PORT`` of a cluster made for these tests."""
    pytest.importorskip("psycopg")
    initdb = shutil.which("initdb") or next(
        iter(glob.glob("/usr/lib/postgresql/*/bin/initdb")), None
    )
    if initdb is None:
        pytest.skip("PostgreSQL is not installed here (apt install postgresql)")
    bindir = Path(initdb).parent
    folder = Path(tempfile.mkdtemp(prefix="medbench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                 "-U", "medbench"]), check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                                 "-l", str(folder / "log"), "-w", "start"]),
                   check=True, capture_output=True)  # fmt: skip
    import psycopg

    with psycopg.connect(f"postgresql://medbench@127.0.0.1:{port}/postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE optuna")
        c.execute("CREATE DATABASE mlflow")
    try:
        yield f"postgresql+psycopg://medbench@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    """An MLflow tracking server on 127.0.0.1 with its runs in PostgreSQL."""
    port = free_port()
    artifacts = tmp_path_factory.mktemp("server-artifacts")
    mlflow = Path(sys.executable).with_name("mlflow")
    path = f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    log = (artifacts.parent / "server.log").open("w")
    server = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"{postgres}/mlflow",
         "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2"],
        env={**os.environ, "PATH": path}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until("the MLflow server", lambda: _answers(f"http://127.0.0.1:{port}/health"),
                   alive=(), timeout=180)  # fmt: skip
        assert server.poll() is None, (artifacts.parent / "server.log").read_text()[-3000:]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _other_machine() -> tuple[str, ...]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a second host name needs root and unshare (util-linux)")
    return ("unshare", "--uts", "sh", "-c", f'hostname {OTHER_HOST} && exec "$@"', "sh")


def test_workers_on_two_machines_share_a_suite_and_survive_one_dying(
    postgres, mlflow_server, tmp_path, tiny_suite
):
    suite = write_suite(tmp_path / "suite.yaml", {**tiny_suite, **TUNED})
    storage = f"{postgres}/optuna"
    args = ["worker", str(suite), "--devices", "cpu", "--threads", "1"]
    args += ["--tracking-uri", mlflow_server, "--storage", storage]
    env = {"MEDBENCH_HEARTBEAT_S": "1"}  # a trial is stale after 3 s without a beat
    other = medbench(*args, cwd=tmp_path, env=env, prefix=_other_machine())
    here = medbench(*args, cwd=tmp_path, env=env)
    client = open_store(mlflow_server)

    def other_mid_trial() -> bool:
        mine = [r for r in runs(client, "tiny", "trial")
                if r.data.tags.get("medbench.host") == OTHER_HOST]  # fmt: skip
        return any(r.info.status == "FINISHED" for r in mine) and any(
            r.info.status == "RUNNING" and "train/loss" in r.data.metrics for r in mine
        )

    wait_until("the other machine in the middle of a trial", other_mid_trial,
               alive=(other, here), timeout=300)  # fmt: skip
    other.send_signal(signal.SIGKILL)  # its process group: the worker with it
    other.wait(timeout=30)
    assert finish(here, timeout=400) == 0, here.stderr_text[-3000:]

    assert_exactly_once(client, "tiny", storage, cells=3, trials=3)
    hosts = {r.data.tags["medbench.host"] for r in runs(client, "tiny", "trial")}
    assert OTHER_HOST in hosts and len(hosts) == 2
    stale = [t for s in studies(storage).values() for t in s
             if t.user_attrs.get("host") == OTHER_HOST and t.state.name == "FAIL"]  # fmt: skip
    assert stale, "the dead machine's trial was never failed"
    dead_runs = [r for r in runs(client, "tiny") if r.data.tags["medbench.host"] == OTHER_HOST]
    assert "FAILED" in {r.info.status for r in dead_runs}  # ended by the surviving worker
