"""Several workers on one machine, with real processes: the same results as one worker,
nothing run twice, nothing lost when a worker, or the launcher, is killed."""

from __future__ import annotations

import os
import signal

import pytest
from mlflow import MlflowClient

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

pytestmark = pytest.mark.slow

TUNED = {  # a trial trains for about two seconds: long enough to be caught in the middle
    "datasets": {"phantoms": {"layout": "synthetic",
                              "options": {"per_class": 60, "size": 64, "difficulty": 0.2}}},
    "strategies": {"finetune": {}, "probe": {"kind": "linear_probe", "features": False},
                   "weighted": {"kind": "cost_sensitive", "class_weights": "auto"}},
    "tune": {"trials": 3, "pruner": {"kind": "none"}},
    "train": {"epochs": 8, "batch_size": 8, "lr": 0.01, "image_size": 64,
              "early_stopping": None},
}  # fmt: skip


def _suite(tmp_path, tiny_suite, **changes):
    return write_suite(tmp_path / "suite.yaml", {**tiny_suite, **changes})


def _stores(folder):
    return f"sqlite:///{folder}/mlflow.db", str(folder / "optuna.journal")


def test_two_workers_give_the_same_cells_and_metrics_as_one(tmp_path, tiny_suite):
    suite = _suite(
        tmp_path,
        tiny_suite,
        backbones=[{"name": "test_resnet", "pretrained": False},
                   {"name": "test_efficientnet", "pretrained": False}],
        strategies={"finetune": {}, "probe": {"kind": "linear_probe"}},
    )  # fmt: skip
    metrics = {}
    for workers in (1, 2):
        tracking, storage = _stores(tmp_path / f"w{workers}")
        process = medbench(
            "run", str(suite), "--devices", "cpu", "--workers", str(workers), "--threads", "1",
            "--tracking-uri", tracking, "--storage", storage, cwd=tmp_path,
        )  # fmt: skip
        assert finish(process) == 0, process.stderr_text[-3000:]
        cells = runs(MlflowClient(tracking), "tiny", "cell")
        assert len(cells) == 4 and {r.info.status for r in cells} == {"FINISHED"}
        metrics[workers] = {
            r.data.tags["medbench.cell"]: {
                k: v for k, v in r.data.metrics.items() if k.startswith("test/")
            }
            for r in cells
        }
        assert {r.data.tags["medbench.device"] for r in cells} == {"cpu"}
    assert metrics[1] == metrics[2]


def test_a_killed_worker_loses_nothing_and_nothing_runs_twice(tmp_path, tiny_suite):
    suite = _suite(tmp_path, tiny_suite, **TUNED)
    tracking, storage = _stores(tmp_path / "stores")
    args = ["worker", str(suite), "--devices", "cpu", "--threads", "1"]
    args += ["--tracking-uri", tracking, "--storage", storage]
    first, second = medbench(*args, cwd=tmp_path), medbench(*args, cwd=tmp_path)
    client = open_store(tracking)
    victim = str(first.pid)

    def mid_trial() -> bool:  # the victim finished a trial and is in the middle of another
        mine = [r for r in runs(client, "tiny", "trial") if r.data.tags["medbench.pid"] == victim]
        done = [r for r in mine if r.info.status == "FINISHED"]
        return bool(done) and any(
            r.info.status == "RUNNING" and "train/loss" in r.data.metrics for r in mine
        )

    wait_until("the first worker in the middle of its second trial", mid_trial,
               alive=(first, second))  # fmt: skip
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert finish(second) == 0, second.stderr_text[-3000:]

    assert_exactly_once(client, "tiny", storage, cells=3, trials=3)
    killed = 0
    for study in studies(storage).values():
        for trial in study:
            if trial.user_attrs.get("pid") != victim or trial.state.name != "FAIL":
                continue
            killed += 1
            root = trial.user_attrs.get("retry_of", trial.number)
            retries = [t for t in study if t.user_attrs.get("retry_of") == root]
            done = [t for t in retries if t.state.name in ("COMPLETE", "PRUNED")]
            assert len(done) == 1, [(t.number, t.state.name) for t in retries]  # redone once
            assert done[0].params == trial.params or not trial.params  # with its settings
    assert killed, "the killed worker's trial was not failed"
    victim_runs = [r for r in runs(client, "tiny") if r.data.tags["medbench.pid"] == victim]
    assert "FAILED" in {r.info.status for r in victim_runs}


def test_two_runs_started_together_on_an_empty_store_share_the_work(tmp_path, tiny_suite):
    """Two terminals, one command: the stores are created once, every cell runs once."""
    for attempt in range(2):
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        suite = write_suite(folder / "suite.yaml", {**tiny_suite, **TUNED,
                                                     "tune": {"trials": 2}})  # fmt: skip
        args = ["run", str(suite), "--devices", "cpu", "--threads", "1"]
        both = [medbench(*args, cwd=folder), medbench(*args, cwd=folder)]
        for process in both:
            assert finish(process) == 0, process.stderr_text[-3000:]
        client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
        assert_exactly_once(client, "tiny", str(folder / "mlruns" / "optuna.journal"),
                            cells=3, trials=2)  # fmt: skip


def test_ctrl_c_and_a_killed_launcher_stop_the_workers_and_the_next_run_resumes(
    tmp_path, tiny_suite
):
    suite = _suite(tmp_path, tiny_suite, **TUNED)
    tracking, storage = _stores(tmp_path / "stores")
    (tmp_path / "stores").mkdir()
    args = ["run", str(suite), "--devices", "cpu", "--workers", "2"]
    args += ["--tracking-uri", tracking, "--storage", storage]
    client = open_store(tracking)

    def training() -> bool:
        return any(
            r.info.status == "RUNNING" and "train/loss" in r.data.metrics
            for r in runs(client, "tiny", "trial")
        )

    def worker_pids() -> set[int]:
        return {int(r.data.tags["medbench.pid"]) for r in runs(client, "tiny")}

    for stop in (signal.SIGINT, signal.SIGKILL):
        launcher = medbench(*args, cwd=tmp_path)
        wait_until("a worker in the middle of a trial", training, alive=(launcher,))
        launcher.send_signal(stop)
        finish(launcher, timeout=120)
        assert launcher.returncode != 0
        wait_until("every worker stopped", lambda: not any(_alive(p) for p in worker_pids()),
                   timeout=90)  # fmt: skip
        # A clean stop, even for the SIGKILL: the workers see their launcher gone and stop.
        assert not [r for r in runs(client, "tiny") if r.info.status == "RUNNING"]

    resumed = medbench(*args, cwd=tmp_path)
    assert finish(resumed) == 0, resumed.stderr_text[-3000:]
    assert_exactly_once(client, "tiny", storage, cells=3, trials=3)
    statuses = [r.info.status for r in runs(client, "tiny", "trial")]
    assert statuses.count("KILLED") >= 2  # a trial stopped by each


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    from benchmark._process import owner_is_dead

    return not owner_is_dead(os.uname().nodename, pid)


def test_a_training_killed_mid_epoch_continues_from_its_last_checkpoint(tmp_path, tiny_suite):
    suite = _suite(
        tmp_path,
        tiny_suite,
        datasets={"phantoms": {"layout": "synthetic",
                               "options": {"per_class": 40, "size": 48, "difficulty": 0.2}}},
        train={"epochs": 8, "batch_size": 8, "lr": 0.01, "image_size": 48,
               "early_stopping": None},
    )  # fmt: skip
    tracking, storage = _stores(tmp_path / "stores")
    args = ["run", str(suite), "--tracking-uri", tracking, "--storage", storage]
    client = open_store(tracking)

    def third_epoch_done() -> bool:
        cells = runs(client, "tiny", "cell")
        return bool(cells) and len(client.get_metric_history(cells[0].info.run_id,
                                                             "train/loss")) >= 3  # fmt: skip

    first = medbench(*args, cwd=tmp_path)
    wait_until("three epochs trained", third_epoch_done, alive=(first,))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    checkpoints = list((tmp_path / "stores" / "checkpoints").rglob("*.pt"))
    assert len(checkpoints) == 1

    second = medbench(*args, cwd=tmp_path)
    assert finish(second) == 0, second.stderr_text[-3000:]
    done = [r for r in runs(client, "tiny", "cell") if r.info.status == "FINISHED"]
    assert len(done) == 1 and done[0].data.metrics["train/epochs_restored"] >= 3
    curve = client.get_metric_history(done[0].info.run_id, "train/loss")
    assert sorted(m.step for m in curve) == list(range(1, 9))  # the whole curve, restored
    assert not list((tmp_path / "stores" / "checkpoints").rglob("*.pt"))  # removed at the end
