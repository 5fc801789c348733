"""The checks before a run: every problem (data, weights, folders) in one message and no run
in the store; the relative-path trap; ``--dry-run``; a ready suite runs offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from benchmark.checks import load_checked_suite
from benchmark.cli import app
from benchmark.data.layouts import write_synthetic
from benchmark.runner import PreflightError, check_ready, preflight
from benchmark.runner._preflight import _data_fix
from benchmark.suite._schema import DatasetConfig
from tests.conftest import write_suite
from tests.models._sources import cache_timm_weights, offline_hub_cache

runner = CliRunner()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    return offline_hub_cache(tmp_path, monkeypatch)


@pytest.fixture
def broken_suite(tmp_path, tiny_suite, monkeypatch, hub_cache) -> Path:
    """A missing dataset root, a pretrained backbone whose weights are not cached (beside
    one from scratch), and a checkpoint folder that cannot be created (under a file)."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("MEDBENCH_CHECKPOINTS", str(tmp_path / "a-file" / "checkpoints"))
    tiny_suite["datasets"] = {"mri": {"layout": "brain-tumor-mri", "root": "absent/mri"}}
    tiny_suite["backbones"] = ["test_resnet", {"name": "test_vit", "pretrained": False}]
    return write_suite(tmp_path / "suite.yaml", tiny_suite)


def test_every_problem_is_one_message_and_nothing_is_created(broken_suite, tracking_uri, tmp_path):
    result = runner.invoke(app, ["run", str(broken_suite), "--tracking-uri", tracking_uri])
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = " ".join(result.output.split())  # unwrapped
    assert out.count("Error:") == 1 and "cannot start (3 problems); nothing was run" in out
    assert f"dataset 'mri' (brain-tumor-mri): folder {tmp_path / 'absent' / 'mri'} does not" in out
    assert "backbone 'test_resnet': weights timm/test_resnet.r160_in1k are not in" in out
    assert "HF_HUB_OFFLINE is set" in out and "test_vit" not in out  # from scratch: no weights
    checkpoints = tmp_path / "a-file" / "checkpoints"
    assert f"folder {checkpoints} (the checkpoints): cannot be written" in out
    assert f"make {checkpoints} writable, or point MEDBENCH_CHECKPOINTS at" in out
    assert f"medbench data fetch brain-tumor-mri --root {tmp_path / 'absent' / 'mri'}" in out
    assert f"medbench weights fetch {broken_suite}" in out
    client = MlflowClient(tracking_uri)
    assert client.get_experiment_by_name("tiny") is None
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
    assert not (tmp_path / "mlruns" / "optuna.journal").exists()  # no study either


def test_dry_run_shows_the_same_checks_and_runs_nothing(broken_suite, tmp_path):
    result = runner.invoke(app, ["run", str(broken_suite), "--dry-run"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "mri/test_resnet/finetune" in out and "before a run" in out
    assert "a run would be refused" in out and "cannot start (3 problems)" in out
    assert "pretrained: false" in out  # test_vit's check, fine
    assert not (tmp_path / "mlruns").exists()


def test_a_worker_refuses_to_start_alike(broken_suite, tracking_uri):
    result = runner.invoke(app, ["worker", str(broken_suite), "--tracking-uri", tracking_uri])
    assert result.exit_code == 1 and "cannot start (3 problems)" in result.output
    assert MlflowClient(tracking_uri).get_experiment_by_name("tiny") is None


def test_a_relative_root_found_from_the_working_folder_says_how_to_set_medbench_data(
    tmp_path, tiny_suite, monkeypatch
):
    monkeypatch.delenv("MEDBENCH_DATA", raising=False)
    write_synthetic(tmp_path / "data" / "brain-tumor-mri", per_class=2, size=32)
    tiny_suite["datasets"] = {
        "mri": {"layout": "brain-tumor-mri", "root": "${MEDBENCH_DATA:-data}/brain-tumor-mri"}
    }
    (tmp_path / "suites").mkdir()
    suite_file = write_suite(tmp_path / "suites" / "suite.yaml", tiny_suite)
    checks = preflight(load_checked_suite(suite_file), suite_file=suite_file)
    with pytest.raises(PreflightError) as info:
        check_ready(checks, suite="tiny")
    message = str(info.value)
    here = tmp_path / "data" / "brain-tumor-mri"
    assert f"It exists relative to the working folder ({here})" in message
    assert f"relative to the suite file's folder ({tmp_path / 'suites'})" in message
    assert f"export MEDBENCH_DATA={tmp_path / 'data'}" in message
    assert "medbench data fetch" not in message  # the data is there already

    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path / "data"))
    checks = preflight(load_checked_suite(suite_file), suite_file=suite_file)
    check_ready(checks, suite="tiny")
    assert "8 images in" in checks[0].detail


def test_the_fetch_named_for_a_root_at_its_default_place_has_no_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path / "data"))
    default = DatasetConfig(layout="sipakmed", root=tmp_path / "data" / "sipakmed")
    assert _data_fix(default) == "medbench data fetch sipakmed"
    flat = DatasetConfig(layout="medmnist", root=tmp_path / "m", options={"flag": "pathmnist"})
    assert _data_fix(flat) == f"medbench data fetch medmnist pathmnist --root {tmp_path / 'm'}"
    sized = DatasetConfig(
        layout="medmnist", root=tmp_path / "data" / "medmnist", options={"flag": "x", "size": 64}
    )
    assert _data_fix(sized) == "medbench data fetch medmnist x --size 64"
    other = DatasetConfig(layout="imagefolder", root=tmp_path / "absent")
    assert "medbench data synth OUT --layout imagefolder" in _data_fix(other)


def test_cached_weights_list_and_a_suite_that_needs_them_runs_offline(
    hub_cache, tiny_suite, tmp_path, tracking_uri
):
    tiny_suite["backbones"] = ["test_resnet"]  # pretrained
    suite_file = write_suite(tmp_path / "suite.yaml", tiny_suite)
    listed = runner.invoke(app, ["weights", "list", str(suite_file)])
    assert listed.exit_code == 0 and "missing" in listed.output
    assert f"1 missing: medbench weights fetch {suite_file}" in " ".join(listed.output.split())
    fetched = runner.invoke(app, ["weights", "fetch", str(suite_file)])
    assert fetched.exit_code == 1 and "1 backbone not fetched" in fetched.output
    assert "HF_HUB_OFFLINE is set" in fetched.output

    cache_timm_weights(hub_cache, "test_resnet")  # as `weights fetch` leaves it
    listed = runner.invoke(app, ["weights", "list", str(suite_file)])
    out = " ".join(listed.output.split())
    assert "cached" in out and "MiB" in out and "model.safetensors" in out
    result = runner.invoke(
        app,
        ["run", str(suite_file), "--tracking-uri", tracking_uri, "--set", "train.epochs=1"],
    )
    assert result.exit_code == 0, result.output
    assert "1 finished, 0 skipped, 0 failed" in result.output


def test_weights_neither_cached_nor_reachable_online_are_a_problem_too(
    hub_cache, tiny_suite, tmp_path, monkeypatch
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub = "http://127.0.0.1:9"  # the discard port: refused at once
    monkeypatch.setattr(constants, "ENDPOINT", hub)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub + "/{repo_id}/resolve/{revision}/{filename}"
    )
    tiny_suite["backbones"] = ["test_resnet", "test_vit"]
    suite_file = write_suite(tmp_path / "suite.yaml", tiny_suite)
    checks = preflight(load_checked_suite(suite_file), suite_file=suite_file)
    with pytest.raises(PreflightError) as info:
        check_ready(checks, suite="tiny")
    lines = str(info.value).splitlines()
    assert "cannot start (2 problems)" in lines[0]
    assert lines[1].startswith("  backbone 'test_resnet': weights timm/test_resnet.r160_in1k")
    assert lines[1].endswith("are not cached here, and 127.0.0.1 cannot be reached (ConnectError).")
    assert lines[-1].startswith(f"To fix them: medbench weights fetch {suite_file}")


def test_a_refused_start_loads_neither_mlflow_nor_optuna(broken_suite, tmp_path):
    """The checks come before the stores are even imported: a refusal takes the time of
    importing timm, not of MLflow, Optuna and the rest of the runner."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import json, sys\n"
        "from benchmark.cli import app\n"
        "name = None\n"
        "try:\n"
        "    app(sys.argv[1:], standalone_mode=False)\n"
        "except BaseException as exc:\n"
        "    name = type(exc).__name__\n"
        "print(json.dumps({'error': name, 'loaded': [m for m in ('mlflow', 'optuna') "
        "if m in sys.modules]}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, "--debug", "run", str(broken_suite)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"error": "PreflightError", "loaded": []}, result.stderr[-2000:]
    assert not (tmp_path / "mlruns").exists()
