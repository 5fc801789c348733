"""``medbench ui``: MLflow's UI on the configured store, opened on the suite's runs."""

from __future__ import annotations

import os

from benchmark import track
from tests.conftest import SMALL


def test_medbench_ui_prints_the_suite_s_runs_view(small_uri, monkeypatch):
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from benchmark.cli import app

    started = []
    monkeypatch.setattr(os, "execvp", lambda file, args: started.append(args))
    result = CliRunner().invoke(app, ["ui", SMALL, "--port", "5055",
                                      "--tracking-uri", small_uri])  # fmt: skip
    assert result.exit_code == 0, result.output
    experiment = MlflowClient(small_uri).get_experiment_by_name(SMALL)
    expected = f"http://127.0.0.1:5055/#/experiments/{experiment.experiment_id}/runs"
    assert f"{expected}?workflowType=machine_learning" in result.output.replace("\n", "")
    assert started[0][-5:] == [small_uri, "--host", "127.0.0.1", "--port", "5055"]
    assert experiment.tags[track.EXPERIMENT_KIND[0]] == track.EXPERIMENT_KIND[1]
