"""``suites/foundation_probe.yaml`` as shipped, on phantoms with a tiny pretrained backbone
(a folder of weights): every frozen strategy at every label budget, the images embedded once
for the whole suite (after the first episode no backbone pass), the efficiency table."""

from __future__ import annotations

import json

import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from benchmark.checks import load_checked_suite
from benchmark.cli import app
from benchmark.runner import run_suite
from tests.conftest import ROOT, write_suite
from tests.models._sources import write_timm_folder

PER_CLASS, CLASSES = 12, 4


def test_the_foundation_probe_suite_runs_small_on_phantoms(tmp_path, tracking_uri, monkeypatch):
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    suite = yaml.safe_load((ROOT / "suites" / "foundation_probe.yaml").read_text())
    suite["datasets"] = {
        "phantoms": {
            "layout": "synthetic",
            "options": {"per_class": PER_CLASS, "size": 32, "difficulty": 0.2},
            "split": suite["datasets"]["images"]["split"],
        }
    }
    write_timm_folder(tmp_path / "models" / "vit")  # weights of its own, as a hub model has
    suite["backbones"] = [{"name": "local-dir:models/vit", "kwargs": {"dynamic_img_size": True}}]
    suite["strategies"]["knn"] = {"k": 3}
    suite["train"] |= {"image_size": 32, "epochs": 2, "shots": [1, 2], "episodes": 2}
    suite["evaluate"] = {"bootstrap": 0, "latency": None}
    outcomes = run_suite(
        load_checked_suite(write_suite(tmp_path / "probe.yaml", suite)), tracking_uri=tracking_uri
    )
    assert len(outcomes) == 4 * 2
    assert {o.status for o in outcomes} == {"finished"}, [o.error for o in outcomes]
    client = MlflowClient(tracking_uri)
    runs = [client.get_run(o.run_id).data for o in outcomes]
    # the images are embedded once for the suite: every other cell, episode and seed reads them
    assert sum(run.metrics["embed/computed"] for run in runs) == PER_CLASS * CLASSES
    assert {run.metrics["episodes"] for run in runs} == {2}

    result = CliRunner().invoke(
        app,
        ["leaderboard", "foundation_probe", "--table", "efficiency", "--format", "json",
         "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["strategy"] for row in rows} == {"knn", "logistic", "prototype", "linear_probe"}
    assert all({"1-shot", "2-shot"} <= set(row) for row in rows)
