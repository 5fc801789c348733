"""Cells whose strategy needs only the frozen backbone's features: every image embedded once
(and read back by later cells and runs), heads fitted on the features, the test split
scored from them exactly as the saved model scores images."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.errors import MedbenchError
from benchmark.explain import usable_methods
from benchmark.runner import run_suite
from benchmark.serve import load_predictor
from benchmark.serve.app import create_app
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


def test_k_not_below_the_training_size_stops_the_run_before_any_run_is_created(
    tmp_path, tiny_suite, tracking_uri
):
    tiny_suite["strategies"] = {"knn": {"k": 5}}
    tiny_suite["train"] |= {"shots": [1]}  # 4 training images: k = 5 cannot vote
    suite = load_checked_suite(write_suite(tmp_path / "k.yaml", tiny_suite))
    with pytest.raises(MedbenchError) as info:
        run_suite(suite, tracking_uri=tracking_uri)
    assert "phantoms/test_resnet/knn/1-shot" in str(info.value)
    assert "k = 5 must be below the training size 4" in str(info.value)
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'tiny'") == []


def test_a_model_without_gradients_is_explained_by_the_methods_that_need_none(
    tmp_path, frozen_suite, tracking_uri
):
    suite = frozen_suite.model_copy(update={"cells": ["*/knn"], "explain": None})
    [outcome] = run_suite(suite, tracking_uri=tracking_uri)
    predictor, _ = load_predictor(f"runs:/{outcome.run_id}/model", tracking_uri=tracking_uri)
    assert usable_methods(predictor.model, ["gradcam", "eigencam", "lime"]) == ["eigencam", "lime"]
    image = predictor.prepare(np.zeros((32, 32), np.uint8))
    with pytest.raises(MedbenchError, match="needs the gradients"):
        predictor.overlay(image, target=0, method="gradcam")
    assert predictor.overlay(image, target=0, method="eigencam").shape == (32, 32, 3)
    app = create_app(predictor)  # asked for Grad-CAM, it offers what explains the model
    info = TestClient(app).get("/api/model").json()
    assert info["cam_method"] == "eigencam" and "gradcam" not in info["cam_methods"]
