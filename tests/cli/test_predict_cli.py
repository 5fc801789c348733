"""``medbench predict``: every kind of model reference, the table, the CSV, per-file errors."""

from __future__ import annotations

import shutil

import pandas as pd
from mlflow import MlflowClient
from PIL import Image
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.data import PHANTOM_CLASSES, render_phantom
from tests.conftest import SMALL_CHAMPION, SMALL_MODEL


def _predict(uri: str, *args: str):
    return CliRunner().invoke(app, ["predict", *args, "--tracking-uri", uri])


def _images(folder):
    folder.mkdir()
    for k, label in enumerate(PHANTOM_CLASSES):
        image = render_phantom(k, seed=77, size=80, difficulty=0.4, label=label).image
        Image.fromarray(image).save(folder / f"{label}.png")
    (folder / "notes.png").write_text("not an image")
    return folder


def test_predict_writes_a_table_a_csv_and_overlays(small_store, tmp_path):
    images = _images(tmp_path / "scans")
    out = tmp_path / "out"
    missing = tmp_path / "missing.png"
    result = _predict(
        small_store, SMALL_CHAMPION, str(images), str(missing), "--cam", "lime",
        "--output", str(out), "--top-k", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{SMALL_MODEL} version 1" in result.output
    assert "4 of 6 images predicted" in result.output
    table = pd.read_csv(out / "predictions.csv")
    table["error"] = table["error"].fillna("")
    assert list(table.columns) == [
        "file", "label", "confidence", "top_k", *PHANTOM_CLASSES, "overlay", "error"
    ]  # fmt: skip
    assert list(table["file"]) == [
        *(str(images / f"{n}.png") for n in sorted([*PHANTOM_CLASSES, "notes"])), str(missing)
    ]  # fmt: skip
    errors = dict(zip(table["file"], table["error"], strict=True))
    assert errors[str(images / "notes.png")] == "not an image (unknown format)"
    assert errors[str(missing)].startswith("cannot read the file")
    good = table[table["error"] == ""]
    assert good["top_k"].str.count(";").eq(1).all()  # two classes each
    assert (good[list(PHANTOM_CLASSES)].sum(axis=1) - 1).abs().max() < 1e-5
    for overlay in good["overlay"]:
        assert Image.open(overlay).size == (80, 80)


def test_every_kind_of_model_reference_gives_the_same_answer(small_uri, tmp_path):
    images = _images(tmp_path / "scans")
    (images / "notes.png").unlink()
    client = MlflowClient(small_uri)
    run_id = client.get_model_version_by_alias(SMALL_MODEL, "champion").run_id
    folder = track.connect(small_uri).resolve_model(SMALL_CHAMPION, tmp_path / "dl").folder
    local = shutil.copytree(folder, tmp_path / "local-model")
    answers = []
    for reference in (
        SMALL_CHAMPION, f"models:/{SMALL_MODEL}/1", f"runs:/{run_id}/model", run_id, str(local)
    ):  # fmt: skip
        out = tmp_path / f"out{len(answers)}"
        result = _predict(small_uri, reference, str(images), "--output", str(out))
        assert result.exit_code == 0, (reference, result.output)
        answers.append(pd.read_csv(out / "predictions.csv")[["file", "label"]])
    for answer in answers[1:]:
        pd.testing.assert_frame_equal(answer, answers[0])


def test_predict_explains_what_is_wrong(small_uri, tmp_path):
    images = _images(tmp_path / "scans")
    unknown = _predict(small_uri, "models:/nope@champion", str(images))
    assert unknown.exit_code == 1
    assert "no registered model 'nope'" in unknown.output and SMALL_MODEL in unknown.output
    alias = _predict(small_uri, f"models:/{SMALL_MODEL}@best", str(images))
    assert alias.exit_code == 1 and "has aliases {'champion': 1}" in alias.output
    garbage = _predict(small_uri, "mymodel", str(images))
    assert garbage.exit_code == 1 and "'mymodel' is not a model" in garbage.output
    unreadable = _predict(
        small_uri, SMALL_CHAMPION, str(images / "notes.png"), "--output", str(tmp_path / "out")
    )
    assert unreadable.exit_code == 1 and "no image could be read" in unreadable.output
