"""Cells whose strategy needs only the frozen backbone's features: every image embedded once
(and read back by later cells and runs), heads fitted on the features, the test split
scored from them exactly as the saved model scores images."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.runner import run_suite
from benchmark.serve import load_predictor
from tests.conftest import assert_served_as_evaluated, write_suite

STRATEGIES = {"knn": {"k": 3}, "logistic": {}, "prototype": {}, "linear_probe": {}}
IMAGES = 60  # 15 per class, 4 classes


@pytest.fixture
def frozen_suite(tmp_path, tiny_suite, monkeypatch):
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))  # counted from empty
    tiny_suite["strategies"] = STRATEGIES
    tiny_suite["evaluate"] = {"bootstrap": 0, "latency": None}
    tiny_suite["explain"] = {"methods": ["gradcam", "eigencam"], "per_class": 1}
    return load_checked_suite(write_suite(tmp_path / "frozen.yaml", tiny_suite))


def _cells(tracking_uri: str, outcomes) -> dict[str, object]:
    client = MlflowClient(tracking_uri)
    assert {o.status for o in outcomes} == {"finished"}, [o.error for o in outcomes]
    return {o.cell.strategy: client.get_run(o.run_id).data for o in outcomes}


def test_frozen_cells_embed_once_and_a_second_run_embeds_nothing(frozen_suite, tracking_uri):
    runs = _cells(tracking_uri, run_suite(frozen_suite, tracking_uri=tracking_uri))
    # one cell embeds the images (workers that start together wait for it), the others read
    computed = sorted(run.metrics["embed/computed"] for run in runs.values())
    assert computed == [0, 0, 0, IMAGES]
    assert sorted(run.metrics["embed/reused"] for run in runs.values()) == [
        0,
        IMAGES,
        IMAGES,
        IMAGES,
    ]
    assert all(run.metrics["time/embed_s"] >= 0 for run in runs.values())
    assert len({run.tags["medbench.embed_key"] for run in runs.values()}) == 1
    # kNN's votes have no gradient: Grad-CAM is left out (and said), EigenCAM explains it
    assert "gradcam left out" in runs["knn"].tags["medbench.explain_warnings"]
    assert "cam/eigencam/pointing_game" in runs["knn"].metrics
    assert "cam/gradcam/pointing_game" in runs["logistic"].metrics

    again = _cells(tracking_uri, run_suite(frozen_suite, tracking_uri=tracking_uri, resume=False))
    assert {run.metrics["embed/computed"] for run in again.values()} == {0}
    for name, run in again.items():  # the same features give the same heads
        assert run.metrics["test/accuracy"] == runs[name].metrics["test/accuracy"], name


@pytest.mark.parametrize("strategy", ["knn", "logistic"])
def test_a_head_on_features_scores_the_test_split_as_its_saved_model_scores_images(
    strategy, frozen_suite, tracking_uri
):
    suite = frozen_suite.model_copy(update={"cells": [f"*/{strategy}"], "explain": None})
    [outcome] = run_suite(suite, tracking_uri=tracking_uri)
    assert outcome.status == "finished", outcome.error
    predictor, _ = load_predictor(f"runs:/{outcome.run_id}/model", tracking_uri=tracking_uri)
    assert predictor.config["head"]["kind"] == strategy
    logged = track.connect(tracking_uri).artifact_text(outcome.run_id, "eval/predictions.csv")
    assert_served_as_evaluated(predictor, logged)
