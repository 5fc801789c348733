"""A cell whose backbone comes from a folder, with kwargs and its own normalisation: what it
used is recorded on its run and in its model, which predicts as it was evaluated."""

from __future__ import annotations

import json
import shutil

from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.models import input_stats
from benchmark.runner import run_suite
from benchmark.serve import load_predictor
from tests.conftest import assert_served_as_evaluated, write_suite
from tests.models._sources import write_timm_folder

MEAN, STD = [0.2, 0.3, 0.4], [0.2, 0.25, 0.3]


def test_a_folder_backbone_with_kwargs_and_normalize_is_recorded_and_served(
    tmp_path, tiny_suite, tracking_uri
):
    write_timm_folder(tmp_path / "models" / "vit")
    tiny_suite["backbones"] = [
        {
            "name": "local-dir:models/vit",
            "kwargs": {"dynamic_img_size": True},
            "normalize": {"mean": MEAN, "std": STD},
        }
    ]
    tiny_suite["train"]["epochs"] = 1
    tiny_suite["evaluate"] = {"bootstrap": 0, "latency": None}
    suite = load_checked_suite(write_suite(tmp_path / "hub.yaml", tiny_suite))
    [outcome] = run_suite(suite, tracking_uri=tracking_uri)
    assert outcome.status == "finished", outcome.error
    store = track.connect(tracking_uri)
    params = MlflowClient(tracking_uri).get_run(outcome.run_id).data.params
    assert json.loads(params["input.mean"]) == MEAN and json.loads(params["input.std"]) == STD
    assert params["input.size"] == "32" and params["input.interpolation"] == "bicubic"
    assert json.loads(params["input.pretrained_size"]) == [160, 160]  # the folder's config
    assert params["backbone.kwargs.dynamic_img_size"] == "True"

    shutil.rmtree(tmp_path / "models")  # the model is rebuilt without its folder
    predictor, _ = load_predictor(f"runs:/{outcome.run_id}/model", tracking_uri=tracking_uri)
    config = predictor.config
    assert config["backbone"] == f"local-dir:{tmp_path / 'models' / 'vit'}"
    assert config["kwargs"] == {"dynamic_img_size": True} and config["architecture"] == "test_vit"
    assert config["mean"] == MEAN and input_stats(predictor.model) == (tuple(MEAN), tuple(STD))
    logged = store.artifact_text(outcome.run_id, "eval/predictions.csv")
    assert_served_as_evaluated(predictor, logged, rows=12)
