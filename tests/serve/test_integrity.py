"""Weights changed after a model was logged or promoted are refused by every way of loading
it: ``medbench predict``, ``medbench explain``, ``medbench app`` and the MLflow pyfunc model."""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient
from PIL import Image
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.data import PHANTOM_CLASSES, render_phantom
from benchmark.errors import ModelIntegrityError
from benchmark.models import create_model, input_stats, save_model
from tests.conftest import SMALL_CHAMPION

NAME = "tiny-phantoms"
URI = f"models:/{NAME}@champion"


def _tiny_model(folder: Path, *, seed: int) -> Path:
    torch.manual_seed(seed)
    model = create_model("test_resnet", num_classes=len(PHANTOM_CLASSES)).eval()
    mean, std = input_stats(model)
    config = {
        "backbone": "test_resnet", "num_classes": len(PHANTOM_CLASSES),
        "classes": list(PHANTOM_CLASSES), "head": {"kind": "linear"}, "image_size": 32,
        "in_chans": 3, "mean": list(mean), "std": list(std), "preprocess": [], "dropout": 0.0,
    }  # fmt: skip
    save_model(model, folder, config=config)
    return folder


@pytest.fixture
def store(tracking_uri, tmp_path) -> tuple[str, Path, str]:
    """A tiny model logged by a run and promoted with the hash of its weights; returns the
    store, the logged model's folder in the artifact store and the hash."""
    store = track.connect(tracking_uri)
    experiment = store.ensure_experiment("tiny")
    folder = _tiny_model(tmp_path / "trained", seed=0)
    with store.start_run(experiment, name="phantoms/test_resnet/finetune", kind="cell",
                         tags={}) as run:  # fmt: skip
        run.log_model(folder)
    sha = track.weights_sha256(folder)
    store.register_model(run_id=run.run_id, name=NAME, alias="champion", tags={track.SHA_TAG: sha})
    (stored,) = (tmp_path / "mlruns" / "artifacts").rglob("model.safetensors")
    return tracking_uri, stored.parent, sha


def _swap_weights(stored: Path, tmp_path: Path, *, rewrite_config: bool = False) -> str:
    """Other weights of the same architecture put in place of the logged ones."""
    other = _tiny_model(tmp_path / "other", seed=1)
    shutil.copy(other / "model.safetensors", stored / "model.safetensors")
    forged = track.weights_sha256(other)
    if rewrite_config:  # the forger also updates the hash beside the weights
        config = json.loads((stored / "config.json").read_text())
        (stored / "config.json").write_text(json.dumps({**config, "weights_sha256": forged}))
    return forged


def test_the_logged_config_and_the_version_record_the_weights(store, tmp_path):
    uri, stored, sha = store
    assert json.loads((stored / "config.json").read_text())["weights_sha256"] == sha
    source = track.connect(uri).resolve_model(URI, tmp_path / "download")
    assert (source.name, source.version, source.sha256) == (NAME, "1", sha)


def test_the_logged_model_pins_the_installed_versions(store, tmp_path):
    """Its requirements are medbench's dependencies at the versions installed here."""
    (requirements,) = (tmp_path / "mlruns" / "artifacts").rglob("requirements.txt")
    lines = requirements.read_text().splitlines()
    pinned = {f"{name}=={metadata.version(name)}" for name in ("timm", "safetensors", "pydantic")}
    assert pinned <= set(lines)


def test_a_champion_promoted_by_medbench_is_verified(small_store, tmp_path):
    source = track.connect(small_store).resolve_model(SMALL_CHAMPION, tmp_path)
    version = MlflowClient(small_store).get_model_version(source.name, source.version)
    assert source.sha256 == version.tags[track.SHA_TAG] == track.weights_sha256(source.folder)


def _scan(tmp_path: Path) -> Path:
    path = tmp_path / "scan.png"
    Image.fromarray(render_phantom(0, seed=1, size=32).image).save(path)
    return path


def test_swapped_weights_are_refused_by_predict_explain_app_and_pyfunc(
    store, tmp_path, monkeypatch
):
    uri, stored, sha = store
    forged = _swap_weights(stored, tmp_path)
    scan = _scan(tmp_path)
    served = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: served.append(a))
    for command in (
        ["predict", URI, str(scan), "--output", str(tmp_path / "out")],
        ["explain", URI, str(scan), "--output", str(tmp_path / "cams")],
        ["app", "--model", URI],
        ["app"],  # the champion by default
        ["predict", f"runs:/{_run_id(uri)}/model", str(scan), "--output", str(tmp_path / "o")],
    ):
        result = CliRunner().invoke(app, [*command, "--tracking-uri", uri])
        assert result.exit_code == 1, (command, result.output)
        text = " ".join(result.output.split())
        assert sha in text and forged in text, text
        assert "is not loaded" in text
        if command[0] != "predict" or "runs:/" not in command[1]:
            assert f"model {NAME} version 1" in text
    assert served == []  # the app never started
    assert not (tmp_path / "out" / "predictions.csv").exists()
    mlflow.set_tracking_uri(uri)
    with pytest.raises(Exception, match=f"recorded sha256 {sha}, found {forged}"):
        mlflow.pyfunc.load_model(URI)


def _run_id(uri: str) -> str:
    return MlflowClient(uri).get_model_version_by_alias(NAME, "champion").run_id


def test_the_registry_record_catches_weights_and_config_forged_together(store, tmp_path):
    uri, stored, sha = store
    forged = _swap_weights(stored, tmp_path, rewrite_config=True)
    with pytest.raises(ModelIntegrityError) as caught:
        track.connect(uri).resolve_model(URI, tmp_path / "a")
    message = str(caught.value)
    assert f"model {NAME} version 1" in message and "medbench.weights_sha256" in message
    assert f"recorded sha256 {sha}, found {forged}" in message


def test_the_run_record_catches_a_run_model_forged_with_its_config(store, tmp_path):
    """``runs:/`` has no registry version: the run's own tag, outside the artifacts, is the
    record that editing the artifacts cannot change."""
    uri, stored, sha = store
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.data.tags[track.SHA_TAG] == sha
    forged = _swap_weights(stored, tmp_path, rewrite_config=True)
    with pytest.raises(ModelIntegrityError, match=f"recorded sha256 {sha}, found {forged}"):
        track.connect(uri).resolve_model(f"runs:/{run.info.run_id}/model", tmp_path / "a")


def test_a_local_model_folder_with_changed_weights_is_refused(store, tmp_path):
    uri, _, _ = store
    source = track.connect(uri).resolve_model(URI, tmp_path / "download")
    local = shutil.copytree(source.folder, tmp_path / "local")
    data = bytearray((local / "model.safetensors").read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    (local / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"config\.json's weights_sha256"):
        track.connect(uri).resolve_model(str(local), tmp_path / "unused")
