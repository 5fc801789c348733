"""Writing runs: how a run ends (FINISHED, FAILED with its error, KILLED on Ctrl-C), the
summary run replaced, runs of dead workers failed, interrupted trials adopted, datasets and
settings recorded as MLflow shows them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.track._keys import PARENT

TAG = track.TAG


def _status(store: track.Store, run_id: str) -> str:
    return MlflowClient(store.tracking_uri).get_run(run_id).info.status


def _tags(store: track.Store, run_id: str) -> dict[str, str]:
    return MlflowClient(store.tracking_uri).get_run(run_id).data.tags


def test_a_run_that_ends_well_is_finished_and_stamped_with_its_process(store, experiment):
    with store.start_run(
        experiment, name="d/b/s", kind="cell", tags={TAG + "cell": "d/b/s"}
    ) as run:
        run.log_metrics({"val/loss": 0.5}, step=3)
        assert _status(store, run.run_id) == "RUNNING"
    assert _status(store, run.run_id) == "FINISHED"
    tags = _tags(store, run.run_id)
    assert tags[TAG + "kind"] == "cell" and tags[TAG + "cell"] == "d/b/s"
    assert tags[TAG + "pid"] == str(os.getpid()) and tags[TAG + "host"] == socket.gethostname()
    assert TAG + "error" not in tags
    assert store.metric_history(run.run_id, "val/loss") == [(3, 0.5)]


def test_a_run_that_raises_is_failed_with_its_error(store, experiment):
    with (
        pytest.raises(RuntimeError, match="out of memory"),
        store.start_run(experiment, name="cell", kind="cell", tags={}) as run,
    ):
        raise RuntimeError("CUDA out of memory")
    assert _status(store, run.run_id) == "FAILED"
    assert _tags(store, run.run_id)[TAG + "error"] == "RuntimeError: CUDA out of memory"


def test_a_run_stopped_by_ctrl_c_is_killed(store, experiment):
    with (
        pytest.raises(KeyboardInterrupt),
        store.start_run(experiment, name="cell", kind="cell", tags={}) as run,
    ):
        raise KeyboardInterrupt
    assert _status(store, run.run_id) == "KILLED"
    assert TAG + "error" not in _tags(store, run.run_id)


def test_a_trial_run_is_nested_under_its_parent(store, experiment):
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as parent:
        nested = {"kind": "trial", "tags": {}, "parent_run_id": parent.run_id}
        with store.start_run(experiment, name="cell/trial-0", **nested) as trial:
            trial.log_params({"lr": 0.1})
    assert _tags(store, trial.run_id)[PARENT] == parent.run_id


def test_the_summary_run_is_replaced_but_never_while_it_is_written(store, experiment):
    with store.start_summary_run(experiment, suite="suite") as first:
        first.log_dict({"n": 1}, "analysis/d/paired_tests.json")
    time.sleep(0.01)
    with store.start_summary_run(experiment, suite="suite") as second:
        second.log_dict({"n": 2}, "analysis/d/paired_tests.json")
    assert store.summary_run("suite") == second.run_id
    assert store.suite_analysis("suite", "paired_tests.json") == {"d": {"n": 2}}
    client = MlflowClient(store.tracking_uri)
    assert client.get_run(first.run_id).info.lifecycle_stage == "deleted"

    with store.start_summary_run(experiment, suite="suite") as writing:
        time.sleep(0.01)
        with store.start_summary_run(experiment, suite="suite") as newer:
            pass
        assert client.get_run(writing.run_id).info.lifecycle_stage == "active"  # still written
    assert client.get_run(second.run_id).info.lifecycle_stage == "deleted"
    assert client.get_run(newer.run_id).info.lifecycle_stage == "active"  # the newest stays
    assert store.summary_run("suite") == newer.run_id


def test_a_report_goes_on_the_summary_run_made_for_it_if_need_be(store, tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"png")
    run_id = store.log_report("fresh", tmp_path / "figures", artifact_path="report")
    assert store.summary_run("fresh") == run_id
    assert store.artifact_files(run_id, "report") == ["report/a.png"]
    assert store.log_report("fresh", tmp_path / "figures", artifact_path="again") == run_id


def test_runs_of_dead_workers_are_failed_and_live_ones_left_alone(store, experiment):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    client = MlflowClient(store.tracking_uri)
    host = {TAG + "host": socket.gethostname()}
    orphan = client.create_run(experiment, tags={**host, TAG + "pid": dead}).info.run_id
    alive = client.create_run(experiment, tags={**host, TAG + "pid": str(os.getpid())})
    elsewhere = client.create_run(experiment, tags={TAG + "host": "other", TAG + "pid": dead})
    assert store.mark_dead_runs_failed(experiment) == [orphan]
    assert _status(store, orphan) == "FAILED"
    assert _status(store, alive.info.run_id) == _status(store, elsewhere.info.run_id) == "RUNNING"

    ended = store.fail_runs([elsewhere.info.run_id, orphan, "0" * 32])  # any host; gone: skipped
    assert ended == [elsewhere.info.run_id] and _status(store, elsewhere.info.run_id) == "FAILED"


def test_an_interrupted_cell_s_finished_trials_move_to_its_next_run(store, experiment):
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as first:
        pass
    trial = {TAG + "study": "suite.cell"}
    with store.start_run(experiment, name="t0", kind="trial", tags=trial,
                         parent_run_id=first.run_id) as done:  # fmt: skip
        pass
    with (
        pytest.raises(KeyboardInterrupt),
        store.start_run(
            experiment, name="t1", kind="trial", tags=trial, parent_run_id=first.run_id
        ) as cut,
    ):
        raise KeyboardInterrupt
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as second:
        moved = store.adopt_trial_runs(experiment, study="suite.cell", parent_run_id=second.run_id)
    assert moved == 1
    assert _tags(store, done.run_id)[PARENT] == second.run_id
    assert _tags(store, cut.run_id)[PARENT] == first.run_id  # unfinished: redone, not adopted
    assert store.adopt_trial_runs(experiment, study="suite.cell", parent_run_id=second.run_id) == 0


def test_datasets_are_run_inputs_whose_digest_follows_the_content(store, experiment):
    table = pd.DataFrame({
        "id": list("abcdef"), "label": ["x", "y", "x", "y", "x", "x"],
        "split": ["train", "train", "train", "val", "test", "test"],
        "sha256": ["1", "2", "3", "4", "5", "6"], "group": list("abcdef"),
    })  # fmt: skip
    runs = []
    for labels in (table["label"], table["label"], table["label"].replace({"y": "z"})):
        with store.start_run(experiment, name="cell", kind="cell", tags={}) as run:
            run.log_datasets(name="d", source={"layout": "l"}, table=table.assign(label=labels))
        runs.append(run.run_id)
    assert store.dataset_profiles(runs[0]) == {
        "train": {"num_rows": 3, "classes": {"x": 2, "y": 1}},
        "validation": {"num_rows": 1, "classes": {"y": 1}},
        "test": {"num_rows": 2, "classes": {"x": 2}},
    }

    def digests(run_id: str) -> dict[str, str]:
        inputs = MlflowClient(store.tracking_uri).get_run(run_id).inputs.dataset_inputs
        return {i.tags[0].value: i.dataset.digest for i in inputs}

    same, changed = digests(runs[0]) == digests(runs[1]), digests(runs[2])
    assert same and changed["test"] == digests(runs[0])["test"]  # no y in test: same images
    assert changed["train"] != digests(runs[0])["train"]


def test_settings_are_flattened_into_params_of_any_number(store, experiment):
    settings = {"train": {"lr": 0.001, "augment": {"hflip": True}}, "preprocess": ["a", "b"],
                "explain": {}, **{f"p{i}": i for i in range(150)}}  # fmt: skip
    flat = track.flatten(settings)
    assert flat["train.lr"] == "0.001" and flat["train.augment.hflip"] == "True"
    assert flat["preprocess"] == '["a", "b"]' and flat["explain"] == "{}"
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as run:
        run.log_params(flat)  # more than MLflow takes in one call
    params = MlflowClient(store.tracking_uri).get_run(run.run_id).data.params
    assert params == flat
