"""Reading the store: a finished cell found by its configuration (resume), the newest run
of each cell, the suites with results, and a run's metrics, histories and artifacts."""

from __future__ import annotations

import time

import pytest

from benchmark import track
from benchmark.errors import TrackingError

TAG = track.TAG


def _cell(store, experiment, cell: str, config_hash: str, *, accuracy: float = 0.5,
          fail: bool = False, kind: str = "cell") -> str:  # fmt: skip
    """A run of ``cell`` that finishes (or fails), a little after the one before."""
    time.sleep(0.005)  # runs are ordered by their start, in milliseconds
    tags = {TAG + "cell": cell, TAG + "dataset": cell.split("/")[0],
            TAG + "config_hash": config_hash}  # fmt: skip
    try:
        with store.start_run(experiment, name=cell, kind=kind, tags=tags) as run:
            run.log_metrics({"test/accuracy": accuracy})
            if fail:
                raise RuntimeError("broken")
    except RuntimeError:
        pass
    return run.run_id


def test_a_finished_cell_is_found_by_its_configuration_only(store, experiment):
    assert store.finished_cell(experiment, "h1") is None
    _cell(store, experiment, "d/a/s", "h1", fail=True)
    _cell(store, experiment, "d/a/s", "h1", kind="trial")
    assert store.finished_cell(experiment, "h1") is None  # failed, or a trial: redone
    done = _cell(store, experiment, "d/a/s", "h1")
    assert store.finished_cell(experiment, "h1") == done
    assert store.finished_cell(experiment, "h2") is None  # the same cell, other settings


def test_cell_runs_keep_the_newest_run_of_each_cell(store, experiment):
    old = _cell(store, experiment, "d/a/s", "h1", accuracy=0.1)
    new = _cell(store, experiment, "d/a/s", "h2", accuracy=0.2)
    other = _cell(store, experiment, "e/b/s", "h3", accuracy=0.3)
    failed = _cell(store, experiment, "e/b/s", "h4", fail=True)
    _cell(store, experiment, "d/a/s", "h2", kind="trial")

    latest = store.cell_runs("suite")
    assert list(latest["run_id"]) == [other, new]  # newest first, finished only
    assert list(latest[track.metric_column("test/accuracy")]) == [0.3, 0.2]
    assert list(latest[track.tag_column("cell")]) == ["e/b/s", "d/a/s"]
    assert list(store.cell_runs("suite", latest=False)["run_id"]) == [other, new, old]
    every = store.cell_runs("suite", finished=False)
    assert dict(zip(every["run_id"], every["status"], strict=True)) == {
        failed: "FAILED",
        new: "FINISHED",
    }


def test_the_suites_are_the_experiments_with_cell_runs(store, experiment):
    assert store.suites() == []
    store.ensure_experiment("empty")
    with store.start_summary_run(store.ensure_experiment("summary only"), suite="summary only"):
        pass
    _cell(store, experiment, "d/a/s", "h1")
    assert store.suites() == ["suite"]
    with pytest.raises(TrackingError, match=r"no MLflow experiment named 'other' in sqlite:.*"
                                            r"suites with results: \['suite'\]"):  # fmt: skip
        store.cell_runs("other")


def test_a_run_s_metrics_history_and_artifacts_read_back(store, experiment, tmp_path):
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as run:
        for epoch, loss in enumerate((0.9, 0.5, 0.4), start=1):
            run.log_metrics({"train/loss": loss}, step=epoch)
        run.log_text("id,true,pred\na,x,x\n", "eval/predictions.csv")
        run.log_dict({"classes": ["x"]}, "cams/gradcam/info.json")
        run.log_text("png", "cams/gradcam/gallery.png")
        run.log_text("png", "cams/stages.png")
    assert store.run_metrics(run.run_id) == {"train/loss": 0.4}
    assert store.metric_history(run.run_id, "train/loss") == [(1, 0.9), (2, 0.5), (3, 0.4)]
    assert store.metric_history(run.run_id, "val/loss") == []
    assert store.artifact_text(run.run_id, "eval/predictions.csv") == "id,true,pred\na,x,x\n"
    assert store.artifact_files(run.run_id, "cams") == [
        "cams/gradcam/gallery.png", "cams/gradcam/info.json", "cams/stages.png"
    ]  # fmt: skip
    local = store.download_artifact(run.run_id, "cams/stages.png", folder=tmp_path)
    assert local.read_text() == "png" and local.is_relative_to(tmp_path)


def test_a_suite_s_analyses_come_from_its_summary_run(store, experiment):
    assert store.summary_run("suite") is None and store.suite_analysis("suite", "x.json") == {}
    with store.start_summary_run(experiment, suite="suite") as run:
        run.log_dict({"best": "d/a/s"}, "analysis/d/paired_tests.json")
        run.log_dict({"best": "e/b/s"}, "analysis/e/paired_tests.json")
        run.log_dict({"n": 3}, "analysis/e/error_overlap_counts.json")
    assert store.suite_analysis("suite", "paired_tests.json") == {
        "d": {"best": "d/a/s"}, "e": {"best": "e/b/s"}
    }  # fmt: skip
    assert store.suite_analysis("suite", "error_overlap_counts.json") == {"e": {"n": 3}}
    assert store.summary_run("no such suite") is None
