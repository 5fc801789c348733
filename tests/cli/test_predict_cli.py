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


def test_a_multilabel_model_lists_the_labels_found_with_a_map_each(tracking_uri, tmp_path):
    from tests.serve._tiny import LABELS, scans, tiny_model

    thresholds = {"atelectasis": 0.0, "effusion": 1.5, "nodule": 0.0}
    model = tiny_model(
        tmp_path / "model", classes=LABELS, task={"kind": "multilabel"}, thresholds=thresholds
    )
    images = tmp_path / "scans"
    images.mkdir()
    for k, image in enumerate(scans(2)):
        Image.fromarray(image).save(images / f"scan{k}.png")
    out = tmp_path / "out"
    result = _predict(
        tracking_uri, str(model), str(images), "--cam", "gradcam", "--output", str(out),
        "--top-k", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "labels atelectasis, effusion, nodule" in result.output
    assert "multilabel: each label found when its probability ≥ its threshold" in result.output
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert list(table.columns) == ["file", "labels", "top_k", *LABELS, "overlay", "error"]
    assert list(table["labels"]) == ["atelectasis|nodule"] * 2
    assert table["top_k"].str.count(";").eq(1).all()  # the two likeliest labels
    maps = [path for paths in table["overlay"] for path in paths.split("|")]
    assert len(set(maps)) == 4  # one per label found, no two with one name
    assert {path.rsplit("_", 1)[1] for path in maps} == {"atelectasis.png", "nodule.png"}
    for path in maps:
        assert Image.open(path).size == (32, 32)


def test_a_binary_model_reports_its_threshold(tracking_uri, tmp_path):
    from tests.serve._tiny import BINARY, scans, tiny_model

    task = {"kind": "binary", "positive": "cancer"}
    model = tiny_model(tmp_path / "model", classes=BINARY, task=task, thresholds={"cancer": 0.0})
    scan = tmp_path / "scan.png"
    Image.fromarray(scans(1)[0]).save(scan)
    out = tmp_path / "out"
    result = _predict(tracking_uri, str(model), str(scan), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "binary: cancer when its probability ≥ 0.000, else benign" in result.output
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert list(table.columns) == [
        "file", "label", "confidence", "threshold", "top_k", *BINARY, "error"
    ]  # fmt: skip
    assert list(table["label"]) == ["cancer"] and list(table["threshold"]) == [0.0]
