"""The predictor: the same preprocessing as training, any kind of image input, clear errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark import track
from benchmark.data import BadImage, render_phantom
from benchmark.serve import Predictor
from tests.conftest import SMALL_CHAMPION


@pytest.fixture(scope="module")
def champion(small_store, tmp_path_factory):
    store = track.connect(small_store)
    source = store.resolve_model(SMALL_CHAMPION, tmp_path_factory.mktemp("champion"))
    return Predictor.load(source.folder, device="cpu"), source, store


def test_predictions_match_the_evaluation_of_the_run_that_trained_it(champion):
    predictor, source, store = champion
    logged = pd.read_csv(io.StringIO(store.artifact_text(source.run_id, "eval/predictions.csv")))
    sample = logged.head(24)
    images = []
    for phantom_id, label in zip(sample["id"], sample["true"], strict=True):
        _, seed, index = phantom_id.split("_")
        size = predictor.config["image_size"]
        image = render_phantom(int(index), seed=int(seed), size=size, difficulty=0.4, label=label)
        images.append(image.image)
    table = predictor.predict(images)
    assert list(table["label"]) == list(sample["pred"])
    expected = sample[[f"p_{name}" for name in predictor.classes]].to_numpy()
    np.testing.assert_allclose(table[predictor.classes].to_numpy(), expected, atol=1e-4)


def test_a_path_its_bytes_and_its_pixels_give_the_same_answer(champion, tmp_path):
    predictor, *_ = champion
    gray = render_phantom(3, seed=5, size=96, difficulty=0.4).image
    path = tmp_path / "scan.png"
    Image.fromarray(gray).save(path)
    inputs = [path, str(path), path.read_bytes(), gray, gray[..., None], np.stack([gray] * 3, -1)]
    table = predictor.predict(inputs)
    probs = table[predictor.classes].to_numpy()
    np.testing.assert_allclose(probs, np.repeat(probs[:1], len(inputs), axis=0), atol=1e-6)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (table["confidence"] == probs.max(axis=1)).all()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"not an image", "not an image"),
        (np.zeros((8, 8), np.float32), "expected a uint8 array, but got float32"),
        (np.zeros((8, 8, 4), np.uint8), r"expected an H × W or H × W × 3 array"),
        (42, "expected a path, the file's bytes or a uint8 array, but got int"),
        ("no/such/file.png", "no/such/file.png: cannot read the file"),
    ],
)
def test_unusable_inputs_say_why(champion, image, message):
    predictor, *_ = champion
    with pytest.raises(BadImage, match=message):
        predictor.predict([image])
