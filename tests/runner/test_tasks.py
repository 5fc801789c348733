"""Task types end to end: a multi-label cell learns every finding of the chest phantoms
(per-label AUROC well above chance), thresholds chosen on validation travel with the model,
a binary cell reports its operating point, an ordinal cell its agreement in grades; bad
task settings fail before any run, naming the field."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmark.checks import load_checked_suite
from benchmark.errors import MedbenchError
from benchmark.runner import run_suite
from tests.conftest import write_suite

FINDINGS = ["nodule", "mass", "effusion", "cardiomegaly", "pneumothorax"]


def _run(tmp_path, suite: dict, tracking_uri: str):
    loaded = load_checked_suite(write_suite(tmp_path / f"{suite['name']}.yaml", suite))
    outcomes = run_suite(loaded, tracking_uri=tracking_uri)
    assert {o.status for o in outcomes} == {"finished"}, [o.error for o in outcomes]
    client = MlflowClient(tracking_uri)
    return [(o, client.get_run(o.run_id).data) for o in outcomes], client


@pytest.fixture
def multilabel_suite(tiny_suite) -> dict:
    tiny_suite["name"] = "chest"
    tiny_suite["datasets"] = {
        "chest": {
            "layout": "synthetic-multilabel",
            "options": {
                "images": 400, "size": 32, "difficulty": 0.2, "missing": 0.05,
                "prevalence": {"nodule": 0.4, "mass": 0.35, "effusion": 0.3,
                               "cardiomegaly": 0.3, "pneumothorax": 0.3},
            },
            "task": "multilabel",
        }
    }  # fmt: skip
    tiny_suite["train"] |= {"epochs": 8, "batch_size": 32, "optimizer": "adamw", "lr": 0.01}
    tiny_suite["evaluate"] = {"bootstrap": 100, "latency": None}
    tiny_suite["explain"] = {"methods": ["gradcam"], "per_class": 1, "max_images": 4}
    return tiny_suite


def test_a_multilabel_cell_learns_every_finding_and_its_model_keeps_the_thresholds(
    tmp_path, multilabel_suite, tracking_uri
):
    [(outcome, run)], client = _run(tmp_path, multilabel_suite, tracking_uri)
    metrics = run.metrics
    aurocs = {label: metrics[f"test/{label}/auroc"] for label in FINDINGS}
    assert all(value > 0.75 for value in aurocs.values()), aurocs  # chance is 0.5
    assert metrics["test/auroc_macro"] == pytest.approx(np.mean(list(aurocs.values())))
    assert metrics["test/auroc_macro_ci_low"] <= metrics["test/auroc_macro"]
    assert metrics["test/labels_scored"] == len(FINDINGS)
    assert "val/auroc_macro" in client.get_metric_history(outcome.run_id, "val/auroc_macro")[0].key
    assert run.tags["medbench.task"] == "multilabel"
    # the thresholds chosen on validation: logged, in the model's config, one per finding
    thresholds = json.loads(_artifact(client, outcome.run_id, "eval/thresholds.json"))
    assert set(thresholds) == set(FINDINGS)
    assert all(0.0 <= t <= 1.0 for t in thresholds.values())
    assert {f"test/{label}/threshold" for label in FINDINGS} <= set(metrics)
    config = _model_config(outcome.run_id, tracking_uri)
    assert config["task"] == {"kind": "multilabel", "threshold": "youden"}
    assert config["thresholds"] == pytest.approx(thresholds)
    predictions = pd.read_csv(io.StringIO(_artifact(client, outcome.run_id,
                                                    "eval/predictions.csv")))  # fmt: skip
    assert {f"p_{label}" for label in FINDINGS} <= set(predictions.columns)
    # one map per present finding, scored against the findings' masks
    assert "cam/gradcam/pointing_game" in metrics
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id, "cams")}
    assert {f"cams/{label}" for label in FINDINGS} <= artifacts


def test_a_binary_cell_reports_its_operating_point_chosen_on_validation(
    tmp_path, tiny_suite, tracking_uri
):
    tiny_suite["datasets"]["phantoms"]["options"]["classes"] = ["glioma", "notumor"]
    tiny_suite["datasets"]["phantoms"]["options"]["per_class"] = 40
    tiny_suite["datasets"]["phantoms"]["task"] = {
        "kind": "binary", "positive": "glioma", "threshold": {"sensitivity": 0.9}
    }  # fmt: skip
    tiny_suite["train"]["epochs"] = 4
    tiny_suite["evaluate"] = {"bootstrap": 100, "latency": None}
    [(outcome, run)], _ = _run(tmp_path, tiny_suite, tracking_uri)
    metrics = run.metrics
    for name in ("sensitivity", "specificity", "ppv", "npv", "auroc", "average_precision"):
        assert 0.0 <= metrics[f"test/{name}"] <= 1.0, name
        assert metrics[f"test/{name}_ci_low"] <= metrics[f"test/{name}_ci_high"], name
    config = _model_config(outcome.run_id, tracking_uri)
    assert config["classes"] == ["notumor", "glioma"]  # the positive class is output 1
    assert config["thresholds"] == {"glioma": pytest.approx(metrics["test/threshold"])}


def test_an_ordinal_cell_reports_agreement_in_grades(tmp_path, tiny_suite, tracking_uri):
    order = ["notumor", "meningioma", "pituitary", "glioma"]
    tiny_suite["datasets"]["phantoms"]["task"] = {"kind": "ordinal", "order": order}
    tiny_suite["evaluate"] = {"bootstrap": 50, "latency": None}
    [(outcome, run)], _ = _run(tmp_path, tiny_suite, tracking_uri)
    assert -1.0 <= run.metrics["test/kappa_quadratic"] <= 1.0
    assert 0.0 <= run.metrics["test/mae"] <= len(order) - 1
    assert run.metrics["test/accuracy_within_1"] >= run.metrics["test/accuracy"]
    config = _model_config(outcome.run_id, tracking_uri)
    assert config["classes"] == order and config["thresholds"] is None


@pytest.mark.parametrize(
    ("dataset", "strategy", "message"),
    [
        ({"task": {"kind": "binary", "positive": "cancer"}}, "finetune",
         "datasets.phantoms.task.positive: 'cancer' is not a class"),
        ({"task": {"kind": "binary", "positive": "glioma"}}, "finetune",
         "a binary task needs two classes"),
        ({"task": "multilabel"}, "finetune", "datasets.phantoms.task: 'multilabel' does not fit"),
        ({"layout": "synthetic-multilabel", "options": {"images": 20, "size": 32},
          "task": "multilabel"}, "prototype", "the 'prototype' strategy needs one class per image"),
        ({"layout": "synthetic-multilabel", "options": {"images": 20, "size": 32}}, "finetune",
         "set `task: multilabel`"),
        ({"options": {"classes": ["glioma", "notumor"], "per_class": 10, "size": 32},
          "split": {"stratify": False, "val_fraction": 0.05},
          "task": {"kind": "binary", "positive": "glioma"}}, "finetune",
         "the val split has no image of"),
        ({"options": {"classes": ["glioma", "notumor"], "per_class": 10, "size": 32},
          "task": {"kind": "binary", "positive": "glioma"}, "tune": True}, "finetune",
         "tune.refit: train+val trains the final model on the val split"),
    ],
)  # fmt: skip
def test_a_task_that_does_not_fit_fails_before_any_run(
    tmp_path, tiny_suite, tracking_uri, dataset, strategy, message
):
    if "layout" in dataset:
        tiny_suite["datasets"]["phantoms"] = {}
    if dataset.pop("tune", False):
        tiny_suite["tune"] = {"trials": 1, "refit": "train+val", "space": {}}
    tiny_suite["datasets"]["phantoms"] |= dataset
    tiny_suite["strategies"] = {strategy: {}}
    suite = load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))
    with pytest.raises(MedbenchError, match=re.escape(message)):
        run_suite(suite, tracking_uri=tracking_uri)
    assert (
        MlflowClient(tracking_uri).search_runs(
            [e.experiment_id for e in MlflowClient(tracking_uri).search_experiments()]
        )
        == []
    )


def test_an_unknown_task_or_setting_is_refused_with_its_field_path(tmp_path, tiny_suite):
    tiny_suite["datasets"]["phantoms"]["task"] = "regression"
    with pytest.raises(MedbenchError, match=r"datasets\.phantoms\.task.*unknown task 'regression'"):
        load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))
    tiny_suite["datasets"]["phantoms"]["task"] = {"kind": "binary"}
    with pytest.raises(MedbenchError, match=r"datasets\.phantoms\.task\.positive"):
        load_checked_suite(write_suite(tmp_path / "bad.yaml", tiny_suite))


def _model_config(run_id: str, tracking_uri: str) -> dict:
    """The saved model's config.json, as the predictor reads it."""
    from benchmark.serve import load_predictor

    predictor, _ = load_predictor(f"runs:/{run_id}/model", tracking_uri=tracking_uri)
    return dict(predictor.config)


def _artifact(client: MlflowClient, run_id: str, path: str) -> str:
    local = client.download_artifacts(run_id, path)
    with open(local) as f:
        return f.read()


def test_the_paired_auroc_test_reads_numeric_class_names_as_names():
    """A binary dataset whose classes are called 0 and 1: the predictions' CSV keeps them as
    text, so the positive images are found (DeLong's test needs both classes)."""
    from benchmark.runner._summary import _auroc_tests

    rng = np.random.default_rng(0)
    truth = np.array(["0", "1"] * 20)
    frames = {}
    for cell in ("a", "b"):
        p = np.clip((truth == "1") * 0.6 + rng.random(40) * 0.5, 0, 1)
        table = pd.DataFrame({"id": range(40), "true": truth, "pred": truth,
                              "p_0": 1 - p, "p_1": p})  # fmt: skip
        frames[cell] = pd.read_csv(io.StringIO(table.to_csv(index=False)),
                                   dtype={"id": str, "true": str, "pred": str},
                                   keep_default_na=False).set_index("id")  # fmt: skip
    matrix = _auroc_tests(frames, multilabel=False, seed=0)
    assert 0.0 < matrix.loc["a", "b"] <= 1.0
