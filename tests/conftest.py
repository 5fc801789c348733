"""Shared fixtures: offline, CPU-only, MLflow and data under tmp_path."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MEDBENCH_CHECKPOINT_EVERY_S"] = "0"  # tiny trainings resume from every epoch
os.environ.pop("MLFLOW_TRACKING_URI", None)

import shutil
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def _session_folder(tmp_path_factory) -> Iterator[None]:
    """The session works in a folder of its own: a store or journal left at its default
    place (``mlruns/`` in the working folder) never lands in the checkout."""
    before = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


@pytest.fixture(autouse=True)
def _flags_forgotten() -> Iterator[None]:
    """A command's flags (``--tracking-uri``, ``--storage``) last for its process: in tests,
    for the test that gave them (the environment as it was, the recorded flags too)."""
    from benchmark import settings

    env, flags = dict(os.environ), dict(settings._FLAGS)
    yield
    settings._FLAGS.clear()
    settings._FLAGS.update(flags)
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)


@pytest.fixture(autouse=True)
def _test_folder(tmp_path, monkeypatch) -> None:
    """Each test works in its own folder (subprocesses started without ``cwd`` too)."""
    monkeypatch.chdir(tmp_path)


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


def assert_served_as_evaluated(predictor, predictions_csv: str, *, rows: int | None = None,
                               size: int = 32, difficulty: float = 0.2) -> None:  # fmt: skip
    """The tiny suite's test phantoms listed in a run's ``eval/predictions.csv`` (its first
    ``rows``), rendered again and given to ``predictor``: the probabilities it serves are the
    ones the run evaluated."""
    import io

    import numpy as np
    import pandas as pd

    from benchmark.data import render_phantom

    sample = pd.read_csv(io.StringIO(predictions_csv)).head(rows)
    images = []
    for phantom_id, label in zip(sample["id"], sample["true"], strict=True):
        _, seed, index = phantom_id.split("_")
        phantom = render_phantom(
            int(index), seed=int(seed), size=size, difficulty=difficulty, label=label
        )
        images.append(phantom.image)
    table = predictor.predict(images)
    expected = sample[[f"p_{name}" for name in predictor.classes]].to_numpy()
    np.testing.assert_allclose(table[predictor.classes].to_numpy(), expected, atol=1e-4)


@pytest.fixture
def tiny_suite() -> dict:
    """A copy of a suite that trains in seconds on a CPU."""
    return yaml.safe_load(yaml.safe_dump(TINY_SUITE))


@pytest.fixture
def tiny_suite_file(tmp_path, tiny_suite) -> Path:
    return write_suite(tmp_path / "tiny.yaml", tiny_suite)


ROOT = Path(__file__).resolve().parents[1]
CHAMPION = "models:/quickstart-phantoms@champion"
SMALL = "small"
SMALL_MODEL = f"{SMALL}-phantoms"
SMALL_CHAMPION = f"models:/{SMALL_MODEL}@champion"


def _run_and_promote(suite_file: Path, folder: Path, template: Path) -> str:
    """``suite_file`` run into a copy of the migrated store under ``folder`` and its best
    cell promoted; returns the store's URI."""
    from typer.testing import CliRunner

    from benchmark.checks import load_checked_suite
    from benchmark.cli import app
    from benchmark.runner import run_suite

    db = folder / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(template, db)
    uri = f"sqlite:///{db}"
    suite = load_checked_suite(suite_file)
    assert {o.status for o in run_suite(suite, tracking_uri=uri)} == {"finished"}
    result = CliRunner().invoke(app, ["promote", suite.name, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    return uri


def _copy_of(uri: str, folder: Path) -> str:
    """A copy of the store's database for one test (its registry changes stay there; the
    artifacts are shared, read only)."""
    db = folder / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(uri.removeprefix("sqlite:///"), db)
    return f"sqlite:///{db}"


@pytest.fixture(scope="session")
def quickstart_store(tmp_path_factory, _migrated_store) -> str:
    """The README's quickstart suite, trained once per session (CAMs included) and its best
    cell promoted: a model good enough to check predictions against the phantoms' classes.
    For tests of the quickstart's own runs and of its quality; others use ``small_store``."""
    folder = tmp_path_factory.mktemp("quickstart")
    return _run_and_promote(ROOT / "suites" / "quickstart.yaml", folder, _migrated_store)


@pytest.fixture
def quickstart_uri(quickstart_store, tmp_path) -> str:
    """A copy of the promoted quickstart store for one test."""
    return _copy_of(quickstart_store, tmp_path / "quickstart")


@pytest.fixture(scope="session")
def small_suite_file(tmp_path_factory) -> Path:
    """The quickstart at its smallest, named ``small``: ten of its phantoms per class (80 px,
    the same difficulty), two cells of ``test_resnet`` (not pretrained; fine-tuned and
    probed, so the suite's summary is recorded too), two epochs, one image per class
    explained and few latency calls. The same kinds of runs, metrics and artifacts as the
    quickstart, in seconds; a real model, not a good one."""
    suite = yaml.safe_load((ROOT / "suites" / "quickstart.yaml").read_text())
    suite["name"] = SMALL
    suite["datasets"]["phantoms"]["options"]["per_class"] = 10
    suite["backbones"] = [{"name": "test_resnet", "pretrained": False}]
    suite["strategies"] = {"finetune": {}, "probe": {"kind": "linear_probe"}}
    suite["train"]["epochs"] = 2
    suite["explain"] |= {"per_class": 1, "road_images": 1}
    suite["evaluate"] = {"latency": {"batch_sizes": [1, 32], "warmup": 1, "iterations": 3}}
    return write_suite(tmp_path_factory.mktemp("small-suite") / "small.yaml", suite)


@pytest.fixture(scope="session")
def small_store(tmp_path_factory, small_suite_file, _migrated_store) -> str:
    """``small_suite_file`` run once per session and its best cell promoted as
    ``SMALL_CHAMPION``: the store and the model that the predictor, the app, the pyfunc
    model, the integrity checks and the commands on a store are tested with."""
    folder = tmp_path_factory.mktemp("small")
    return _run_and_promote(small_suite_file, folder, _migrated_store)


@pytest.fixture
def small_uri(small_store, tmp_path) -> str:
    """A copy of the promoted small store for one test."""
    return _copy_of(small_store, tmp_path / "small")
