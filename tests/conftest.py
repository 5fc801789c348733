"""Shared fixtures: offline, CPU-only, MLflow and data under tmp_path."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MEDBENCH_CHECKPOINT_EVERY_S"] = "0"  # tiny trainings resume from every epoch
os.environ.pop("MLFLOW_TRACKING_URI", None)

import shutil
from pathlib import Path

import pytest
import yaml

TINY_SUITE = {
    "name": "tiny",
    "seed": 7,
    "datasets": {
        "phantoms": {
            "layout": "synthetic",
            "options": {"per_class": 15, "size": 32, "difficulty": 0.2},
        }
    },
    "backbones": [{"name": "test_resnet", "pretrained": False}],
    "strategies": {"finetune": {}},
    "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "image_size": 32},
    "explain": None,  # CAMs have their own tests
    "evaluate": {
        "batch_size": 32,
        "bootstrap": 200,
        "latency": {"batch_sizes": [1, 8], "warmup": 2, "iterations": 10},
    },
}


@pytest.fixture(scope="session", autouse=True)
def _image_cache(tmp_path_factory) -> None:
    """Decoded images are cached in the test session's own folder, never the user's."""
    os.environ["MEDBENCH_CACHE"] = str(tmp_path_factory.mktemp("image-cache"))


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory) -> Path:
    """One migrated MLflow SQLite database per test session (migrations take seconds)."""
    from benchmark import track

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    track.connect(f"sqlite:///{db}")
    return db


@pytest.fixture
def tracking_uri(tmp_path, _migrated_store) -> str:
    """A fresh MLflow store for one test (a copy of the migrated template)."""
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_migrated_store, db)
    return f"sqlite:///{db}"


def write_suite(path: Path, suite: dict) -> Path:
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def tiny_suite() -> dict:
    """A copy of a suite that trains in seconds on a CPU."""
    return yaml.safe_load(yaml.safe_dump(TINY_SUITE))


@pytest.fixture
def tiny_suite_file(tmp_path, tiny_suite) -> Path:
    return write_suite(tmp_path / "tiny.yaml", tiny_suite)


ROOT = Path(__file__).resolve().parents[1]
CHAMPION = "models:/quickstart-phantoms@champion"


@pytest.fixture(scope="session")
def quickstart_store(tmp_path_factory, _migrated_store) -> str:
    """The README's quickstart suite, trained once per session (CAMs included) and its best
    cell promoted: a model good enough to check predictions against the phantoms' classes."""
    from typer.testing import CliRunner

    from benchmark.checks import load_checked_suite
    from benchmark.cli import app
    from benchmark.runner import run_suite

    db = tmp_path_factory.mktemp("quickstart") / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_migrated_store, db)
    uri = f"sqlite:///{db}"
    suite = load_checked_suite(ROOT / "suites" / "quickstart.yaml")
    assert {o.status for o in run_suite(suite, tracking_uri=uri)} == {"finished"}
    result = CliRunner().invoke(app, ["promote", "quickstart", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    return uri


@pytest.fixture
def quickstart_uri(quickstart_store, tmp_path) -> str:
    """A copy of the promoted quickstart store for one test (its registry changes stay there;
    the artifacts are shared, read only)."""
    db = tmp_path / "quickstart" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(quickstart_store.removeprefix("sqlite:///"), db)
    return f"sqlite:///{db}"
