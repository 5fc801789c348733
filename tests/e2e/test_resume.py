"""Crash safety with a real `medbench run` process: SIGTERM, SIGKILL mid-trial, then resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.checks import load_checked_suite
from benchmark.runner import run_suite
from benchmark.suite import expand_cells

TRIALS = 3
OVERRIDES = [
    f"tune={{trials: {TRIALS}, pruner: {{kind: none}}}}",
    "train.epochs=6",
    "train.early_stopping=null",
    "datasets.phantoms.options={per_class: 60, size: 48}",
    "train.image_size=48",
    # the probe trains through the backbone: a head fitted on cached features finishes its
    # trials in milliseconds, and the test kills a trial mid-training
    "strategies={finetune: {}, probe: {kind: linear_probe, features: false}}",
]


def _start(suite_file, tracking_uri, storage) -> subprocess.Popen:
    args = [sys.executable, "-m", "benchmark", "run", str(suite_file)]
    args += ["--tracking-uri", tracking_uri, "--storage", storage]
    for item in OVERRIDES:
        args += ["--set", item]
    return subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
    )


def _wait_mid_trial(client, process, *, finished_trials: int, timeout: float = 240) -> None:
    """Wait until ``finished_trials`` trials are done and another has logged an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        experiment = client.get_experiment_by_name("tiny")
        if experiment is not None:
            trials = client.search_runs(
                [experiment.experiment_id], filter_string="tags.`medbench.kind` = 'trial'"
            )
            done = [t for t in trials if t.info.status == "FINISHED"]
            running = [
                t for t in trials if t.info.status == "RUNNING" and "train/loss" in t.data.metrics
            ]
            if len(done) >= finished_trials and running:
                return
        time.sleep(0.2)
    pytest.fail("the run never reached the middle of a trial")


def _statuses(client) -> dict[str, list[str]]:
    experiment = client.get_experiment_by_name("tiny")
    out: dict[str, list[str]] = {}
    for run in client.search_runs([experiment.experiment_id]):
        out.setdefault(run.data.tags["medbench.kind"], []).append(run.info.status)
    return out


@pytest.mark.slow
def test_interrupted_and_killed_runs_resume_without_redoing_finished_trials(
    tiny_suite_file, tracking_uri, tmp_path
):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    client = MlflowClient(tracking_uri)

    first = _start(tiny_suite_file, tracking_uri, storage)  # Ctrl-C / SIGTERM
    _wait_mid_trial(client, first, finished_trials=1)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) != 0
    statuses = _statuses(client)
    assert "RUNNING" not in statuses["cell"] + statuses["trial"]
    assert statuses["cell"] == ["KILLED"] and statuses["trial"].count("KILLED") == 1

    second = _start(tiny_suite_file, tracking_uri, storage)  # a crash: no chance to clean up
    _wait_mid_trial(client, second, finished_trials=TRIALS + 1)
    second.send_signal(signal.SIGKILL)  # at once: the trial seen running is still running
    second.wait(timeout=60)
    finished_before = _finished_trials(tiny_suite_file, storage)
    assert "RUNNING" in _statuses(client)["trial"]

    suite = load_checked_suite(tiny_suite_file, overrides=OVERRIDES)
    outcomes = run_suite(suite, tracking_uri=tracking_uri, storage=storage)
    assert [o.status for o in outcomes] in (["skipped", "finished"], ["finished", "finished"])

    statuses = _statuses(client)
    assert "RUNNING" not in statuses["cell"] + statuses["trial"]
    assert statuses["cell"].count("FINISHED") == 2  # every cell finished exactly once
    finished_after = _finished_trials(tiny_suite_file, storage)
    for study, numbers in finished_before.items():
        assert numbers <= finished_after[study]  # kept, not redone
    assert [len(n) for n in finished_after.values()] == [TRIALS, TRIALS]
    experiment = client.get_experiment_by_name("tiny")
    for cell in client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`medbench.kind` = 'cell' and attributes.status = 'FINISHED'",
    ):
        nested = client.search_runs(
            [experiment.experiment_id],
            filter_string=(
                f"tags.`mlflow.parentRunId` = '{cell.info.run_id}' "
                "and attributes.status = 'FINISHED'"
            ),
        )
        assert len(nested) == TRIALS  # the finished trials, adopted by the cell that finished


def _finished_trials(suite_file, storage) -> dict[str, set[int]]:
    out = {}
    for cell in expand_cells(load_checked_suite(suite_file, overrides=OVERRIDES)):
        name = f"{cell.suite}.{cell.study_key}"
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            out[name] = set()
            continue
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        out[name] = {t.number for t in study.get_trials(states=done)}
    return out
