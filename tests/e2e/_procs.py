"""Real medbench processes for the crash tests: start them, wait for a state, read stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmark import track


def medbench(*args: str, cwd: Path, env: dict[str, str] | None = None,
             prefix: tuple[str, ...] = ()) -> subprocess.Popen:  # fmt: skip
    """``medbench ARGS`` as its own process (stderr kept for the failure message), with the
    default stores of ``cwd`` unless ARGS name others (an earlier test's ``mlflow``
    calls leave MLFLOW_TRACKING_URI set in this process)."""
    inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        env={**inherited, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def open_store(uri: str) -> MlflowClient:
    """MLflow's own client on the store at ``uri`` (the tests' view of what the workers
    recorded), once medbench has opened it as the workers starting beside it do: a SQLite
    store is created once, under its lock."""
    track.connect(uri)
    return MlflowClient(uri)


def finish(process: subprocess.Popen, timeout: float = 300) -> int:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"{process.args} did not end within {timeout}s: {err[-3000:]}")
    process.stderr_text = err  # type: ignore[attr-defined]
    return process.returncode


def wait_until(what: str, predicate: Callable[[], bool], *, alive=(), timeout=240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in alive:
            if process.poll() is not None:
                pytest.fail(f"{process.args} ended early: {process.stderr.read()[-3000:]}")
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"never saw: {what}")


def runs(client, suite: str, kind: str | None = None) -> list:
    experiment = client.get_experiment_by_name(suite)
    if experiment is None:
        return []
    where = f"tags.`medbench.kind` = '{kind}'" if kind else ""
    return client.search_runs([experiment.experiment_id], filter_string=where)


def studies(storage: str) -> dict[str, list]:
    """Every study of a journal or RDB storage: its trials."""
    import optuna

    from benchmark import tune

    opened = tune.open_storage(storage)
    return {
        name: optuna.load_study(study_name=name, storage=opened).get_trials()
        for name in optuna.get_all_study_names(storage=opened)
    }


def assert_exactly_once(client, suite: str, storage: str, *, cells: int, trials: int) -> None:
    """Every cell FINISHED once, nothing left RUNNING, every study exactly ``trials``."""
    cell_runs = runs(client, suite, "cell")
    finished = [r.data.tags["medbench.cell"] for r in cell_runs if r.info.status == "FINISHED"]
    assert len(finished) == len(set(finished)) == cells, finished
    everything = runs(client, suite)
    assert not [r.info.run_name for r in everything if r.info.status == "RUNNING"]
    for name, study in studies(storage).items():
        if name.endswith(".cells"):
            assert all(t.state.name in ("COMPLETE", "FAIL") for t in study), name
            continue
        done = [t for t in study if t.state.name in ("COMPLETE", "PRUNED")]
        assert len(done) == trials, (name, [t.state.name for t in study])
        assert not [t for t in study if t.state.name in ("RUNNING", "WAITING")], name
