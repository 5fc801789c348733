"""A saved model's temperature (``config.json``'s ``temperature``): its logits are divided by
it before the probabilities, through the predictor, ``medbench predict``, the app and the
pyfunc model alike; a temperature this version cannot read is refused in one line."""

from __future__ import annotations

import base64
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.errors import ModelError
from benchmark.serve import Predictor, ServedTask, predict_files
from tests.serve._tiny import LABELS, png, scans, tiny_model

CLASSES = ["glioma", "meningioma", "none", "pituitary"]


def _logits(predictor: Predictor, images) -> torch.Tensor:
    batch = torch.stack([predictor.prepare(image) for image in images])
    with torch.inference_mode():
        return predictor.model(predictor.normalized(batch)).float()


def test_a_temperature_divides_the_logits_in_every_way_a_model_is_served(tmp_path):
    from benchmark.serve.app import _classify
    from benchmark.serve.mlflow_model import MedbenchModel

    folder = tiny_model(tmp_path / "model", classes=CLASSES, temperature=2)
    predictor = Predictor.load(folder, device="cpu")
    assert predictor.task.temperature == 2.0
    images = scans()
    logits = _logits(predictor, images)
    expected = (logits / 2).softmax(dim=1).numpy()
    assert not np.allclose(expected, logits.softmax(dim=1).numpy(), atol=1e-3)
    table = predictor.predict(images)
    np.testing.assert_allclose(table[CLASSES].to_numpy(), expected, atol=1e-6)
    assert list(table["label"]) == [CLASSES[k] for k in logits.argmax(dim=1)]

    files = []
    for k, image in enumerate(images):
        files.append(tmp_path / f"{k}.png")
        files[-1].write_bytes(png(image))
    written = predict_files(predictor, files)  # medbench predict
    np.testing.assert_allclose(written[CLASSES].to_numpy(), expected, atol=1e-6)

    answer = _classify(predictor, png(images[0]), None, threading.Lock())  # the app
    shown = [p["probability"] for p in answer["probabilities"]]
    np.testing.assert_allclose(shown, expected[0], atol=1e-6)

    model = MedbenchModel()  # the pyfunc model
    model.load_context(SimpleNamespace(artifacts={"config": str(folder / "config.json")}))
    encoded = [base64.b64encode(png(image)).decode() for image in images]
    served = model.predict(None, pd.DataFrame({"image": encoded}))
    np.testing.assert_allclose(served[CLASSES].to_numpy(), expected, atol=1e-6)


def test_a_multilabel_model_divides_each_label_by_its_own_temperature(tmp_path):
    temperatures = {"atelectasis": 0.5, "effusion": 1.0, "nodule": 4.0}
    folder = tiny_model(
        tmp_path / "model",
        classes=LABELS,
        task={"kind": "multilabel"},
        thresholds=dict.fromkeys(LABELS, 0.5),
        temperature=temperatures,
    )
    predictor = Predictor.load(folder, device="cpu")
    images = scans()
    logits = _logits(predictor, images)
    scale = torch.tensor([temperatures[name] for name in LABELS])
    table = predictor.predict(images)
    np.testing.assert_allclose(table[LABELS].to_numpy(), (logits / scale).sigmoid(), atol=1e-6)
    for found, row in zip(table["labels"], logits.numpy(), strict=True):  # logit 0 stays 0
        assert found == [name for name, z in zip(LABELS, row, strict=True) if z >= 0]


def test_one_temperature_serves_every_label_of_a_multilabel_model():
    task = ServedTask.from_config(
        {"classes": LABELS, "task": {"kind": "multilabel"}, "temperature": 3}
    )
    logits = torch.tensor([[3.0, -6.0, 0.0]])
    np.testing.assert_allclose(task.probabilities(logits), (logits / 3).sigmoid())


@pytest.mark.parametrize("temperature", [None, 1])
def test_no_temperature_or_one_leaves_the_probabilities_as_they_were(temperature):
    task = ServedTask.from_config({"classes": CLASSES, "temperature": temperature})
    logits = torch.tensor([[2.0, -1.0, 0.5, 4.0]])
    np.testing.assert_allclose(task.probabilities(logits), logits.softmax(dim=1))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"classes": CLASSES, "temperature": 0}, r"`temperature` must be null or a positive"),
        ({"classes": CLASSES, "temperature": -2.0}, "a positive number, but it is -2.0"),
        ({"classes": CLASSES, "temperature": "hot"}, "but it is 'hot'"),
        ({"classes": CLASSES, "temperature": True}, "but it is True"),
        ({"classes": CLASSES, "temperature": float("nan")}, "but it is nan"),
        (
            {"classes": CLASSES, "temperature": {"glioma": 2.0}},
            r"a positive number, but it is \{'glioma': 2.0\}",
        ),
        (
            {"classes": LABELS, "task": {"kind": "multilabel"}, "temperature": {"nodule": 2}},
            "a positive number per label of atelectasis, effusion, nodule",
        ),
        (
            {
                "classes": LABELS,
                "task": {"kind": "multilabel"},
                "temperature": {"atelectasis": 1, "effusion": 0, "nodule": 2},
            },
            "per label of",
        ),
    ],
)
def test_a_temperature_this_version_cannot_read_is_refused_in_one_line(config, message):
    with pytest.raises(ModelError, match=message) as raised:
        ServedTask.from_config(config)
    text = str(raised.value)
    assert text.startswith("config.json: `temperature`") and "\n" not in text
