"""Every task's model served as its config says: sigmoids and thresholds per label for a
multi-label model, the positive class's threshold for a binary one, the likeliest class for
a model saved without a task; the predictor, the pyfunc model and the MLflow signature."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import track
from benchmark.errors import ModelError
from benchmark.serve import Predictor, ServedTask
from tests.serve._tiny import BINARY, LABELS, png, scans, tiny_model

MULTILABEL = {"kind": "multilabel"}
POSITIVE = {"kind": "binary", "positive": "cancer"}


def _predictor(tmp_path, **options) -> Predictor:
    return Predictor.load(tiny_model(tmp_path / "model", **options), device="cpu")


def _logits(predictor: Predictor, images) -> torch.Tensor:
    batch = torch.stack([predictor.prepare(image) for image in images])
    with torch.inference_mode():
        return predictor.model(predictor.normalized(batch)).float()


def test_a_multilabel_model_gives_a_sigmoid_per_label_and_the_labels_over_their_thresholds(
    tmp_path,
):
    thresholds = {"atelectasis": 0.0, "effusion": 1.5, "nodule": 0.0}
    predictor = _predictor(tmp_path, classes=LABELS, task=MULTILABEL, thresholds=thresholds)
    images = scans()
    table = predictor.predict(images)
    assert list(table.columns) == ["labels", *LABELS]
    probs = table[LABELS].to_numpy()
    np.testing.assert_allclose(probs, _logits(predictor, images).sigmoid().numpy(), atol=1e-6)
    assert not np.allclose(probs.sum(axis=1), 1.0)  # one sigmoid each, not a softmax
    assert list(table["labels"]) == [["atelectasis", "nodule"]] * len(images)
    for row in probs:  # the maps: the labels found, likeliest first
        assert predictor.targets(row) == sorted([0, 2], key=lambda k: -row[k])


def test_a_multilabel_image_may_have_no_label_and_its_map_is_of_the_likeliest(tmp_path):
    thresholds = dict.fromkeys(LABELS, 1.5)
    predictor = _predictor(tmp_path, classes=LABELS, task=MULTILABEL, thresholds=thresholds)
    table = predictor.predict(scans())
    assert list(table["labels"]) == [[]] * 3
    for row in table[LABELS].to_numpy():
        assert predictor.targets(row) == [int(row.argmax())]


def test_a_multilabel_model_without_thresholds_decides_at_one_half(tmp_path):
    predictor = _predictor(tmp_path, classes=LABELS, task={"kind": "multilabel"})
    assert predictor.task.thresholds == dict.fromkeys(LABELS, 0.5)
    table = predictor.predict(scans())
    for found, row in zip(table["labels"], table[LABELS].to_numpy(), strict=True):
        assert found == [name for name, p in zip(LABELS, row, strict=True) if p >= 0.5]


@pytest.mark.parametrize(("threshold", "label"), [(0.0, "cancer"), (1.5, "benign")])
def test_a_binary_model_decides_by_the_positive_class_threshold(tmp_path, threshold, label):
    predictor = _predictor(
        tmp_path, classes=BINARY, task=POSITIVE, thresholds={"cancer": threshold}
    )
    table = predictor.predict(scans())
    assert list(table.columns) == ["label", "confidence", "threshold", *BINARY]
    assert list(table["label"]) == [label] * 3
    assert (table["threshold"] == threshold).all()
    probs = table[BINARY].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)  # a softmax over [negative, positive]
    np.testing.assert_array_equal(table["confidence"], table[label])  # the chosen class's
    assert all(predictor.targets(row) == [BINARY.index(label)] for row in probs)


def test_a_model_saved_without_a_task_is_multiclass(tmp_path):
    classes = ["glioma", "meningioma", "none", "pituitary"]
    predictor = _predictor(tmp_path, classes=classes)
    assert (predictor.task.kind, predictor.task.thresholds) == ("multiclass", {})
    images = scans()
    table = predictor.predict(images)
    assert list(table.columns) == ["label", "confidence", *classes]
    expected = _logits(predictor, images).softmax(dim=1).numpy()
    np.testing.assert_allclose(table[classes].to_numpy(), expected, atol=1e-6)
    assert list(table["label"]) == [classes[k] for k in expected.argmax(axis=1)]
    assert (table["confidence"] == table[classes].max(axis=1)).all()


def test_an_ordinal_model_predicts_the_likeliest_grade(tmp_path):
    grades = ["G0", "G1", "G2"]
    predictor = _predictor(
        tmp_path, classes=grades, task={"kind": "ordinal", "order": grades}, thresholds=None
    )
    table = predictor.predict(scans())
    assert list(table.columns) == ["label", "confidence", *grades]
    assert list(table["label"]) == [grades[k] for k in table[grades].to_numpy().argmax(axis=1)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"classes": LABELS, "task": {"kind": "survival"}}, "task kind 'survival' is not one"),
        ({"classes": LABELS, "task": POSITIVE}, "a binary model needs two classes"),
        (
            {"classes": BINARY, "task": POSITIVE, "thresholds": {"benign": 0.3}},
            r"thresholds given for \['benign'\], but this binary model takes thresholds for "
            r"\['cancer'\]",
        ),
        (
            {"classes": LABELS, "thresholds": {"nodule": 0.3}},
            r"this multiclass model takes thresholds for none",
        ),
    ],
)
def test_a_task_this_version_cannot_read_is_refused_in_one_line(config, message):
    with pytest.raises(ModelError, match=message):
        ServedTask.from_config(config)


def test_the_pyfunc_model_answers_with_the_labels_found(tmp_path):
    from benchmark.serve.mlflow_model import MedbenchModel

    thresholds = {"atelectasis": 1.5, "effusion": 0.0, "nodule": 0.0}
    folder = tiny_model(tmp_path / "model", classes=LABELS, task=MULTILABEL, thresholds=thresholds)
    model = MedbenchModel()
    model.load_context(SimpleNamespace(artifacts={"config": str(folder / "config.json")}))
    encoded = [base64.b64encode(png(image)).decode() for image in scans(2)]
    table = model.predict(None, pd.DataFrame({"image": encoded}))
    assert list(table.columns) == ["labels", *LABELS]
    assert list(table["labels"]) == [["effusion", "nodule"]] * 2
    assert json.loads(table.to_json(orient="records"))[0]["labels"] == ["effusion", "nodule"]


@pytest.mark.parametrize(
    ("classes", "task", "thresholds", "answer"),
    [
        (LABELS, MULTILABEL, dict.fromkeys(LABELS, 0.0), ["labels"]),
        (BINARY, POSITIVE, {"cancer": 0.0}, ["label", "confidence", "threshold"]),
    ],
)
def test_the_logged_model_signature_follows_its_task(
    tracking_uri, tmp_path, classes, task, thresholds, answer
):
    import mlflow

    folder = tiny_model(tmp_path / "model", classes=classes, task=task, thresholds=thresholds)
    store = track.connect(tracking_uri)
    experiment = store.ensure_experiment("tiny")
    with store.start_run(experiment, name="tiny", kind="cell", tags={}) as run:
        run.log_model(folder)
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run.run_id}/model")
    outputs = model.metadata.signature.outputs.inputs
    assert [column.name for column in outputs] == [*answer, *classes]
    table = model.predict(pd.DataFrame({"image": [base64.b64encode(png(scans(1)[0])).decode()]}))
    assert list(table.columns) == [*answer, *classes]
    expected = classes if task["kind"] == "multilabel" else "cancer"
    assert table[answer[0]].iloc[0] == expected
