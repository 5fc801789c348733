"""``suites/brain_external_phantoms.yaml`` as shipped: trained on phantoms, tested on a
harder phantom site and on a fake yes/no collection in Kaggle's layout (tumour classes
mapped to "yes"), under corruptions, calibrated; the external and robustness tables read
the runs, and the promoted model serves the calibrated probabilities the run evaluated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from typer.testing import CliRunner

from benchmark.checks import load_checked_suite
from benchmark.cli import app
from benchmark.data import write_synthetic
from benchmark.runner import run_suite
from tests.conftest import ROOT

SUITE = ROOT / "suites" / "brain_external_phantoms.yaml"
CELLS = ("phantoms/test_resnet/finetune", "phantoms/test_efficientnet/finetune")


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_brain_external_runs_on_phantoms(tmp_path, tracking_uri, monkeypatch):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    write_synthetic(tmp_path / "phantom-brain-mri-yes-no", layout="brain-mri-yes-no",
                    per_class=12, size=64, difficulty=0.3)  # fmt: skip
    suite = load_checked_suite(SUITE)
    outcomes = run_suite(suite, tracking_uri=tracking_uri)
    assert [o.cell.name for o in outcomes] == list(CELLS)  # the external ones are no cells
    assert {o.status for o in outcomes} == {"finished"}, [o.error for o in outcomes]

    client = MlflowClient(tracking_uri)
    runs = {o.cell.name: client.get_run(o.run_id) for o in outcomes}
    for run in runs.values():
        m, tags = run.data.metrics, run.data.tags
        assert tags["medbench.external"] == "site_b,yes_no"
        for site, images in (("site_b", 120), ("yes_no", 24)):
            assert 0 <= m[f"external/{site}/accuracy"] <= 1
            assert m[f"external/{site}/accuracy_ci_low"] <= m[f"external/{site}/accuracy"]
            # the drop is from the internal test split scored on the external classes: with
            # the same classes, its test accuracy; with tumour classes merged, a yes/no one
            drop = m["test/accuracy"] - m[f"external/{site}/accuracy"]
            if site == "site_b":
                assert math.isclose(m[f"external/{site}/accuracy_drop"], drop, abs_tol=1e-6)
            assert -1 <= m[f"external/{site}/accuracy_drop"] <= 1
            text = client.download_artifacts(run.info.run_id, f"external/{site}/predictions.csv")
            predictions = pd.read_csv(text)  # split: all, but for copies of training images
            assert len(predictions) == images - m[f"external/{site}/overlap_images"]
        yes_no = pd.read_csv(client.download_artifacts(
            run.info.run_id, "external/yes_no/predictions.csv"))  # fmt: skip
        assert list(yes_no.filter(like="p_").columns) == ["p_no", "p_yes"]
        assert set(yes_no["true"]) == {"yes", "no"}
        # the fake yes/no tree renders the same phantom stream as the training set (seed 0):
        # its images that copy training or validation ones are found and left out
        assert m["external/yes_no/overlap_images"] >= 1 and m["external/site_b/overlap_images"] == 0
        # corruptions: every kind at every severity, balanced errors; BE and rBE from the summary
        for kind in ("gaussian_noise", "defocus_blur", "contrast_down", "jpeg_compression"):
            for severity in (1, 3, 5):
                assert 0 <= m[f"corrupt/{kind}/{severity}/accuracy"] <= 1
                assert 0 <= m[f"corrupt/{kind}/{severity}/balanced_error"] <= 1
            assert f"corrupt/{kind}/rbe" in m
        assert {"corrupt/clean_balanced_error", "corrupt/balanced_error"} <= set(m)
        # calibration: fitted on val, before and after on test, and the diagram
        assert m["calibration/temperature"] > 0
        for key in ("ece", "brier", "nll"):
            assert f"test/{key}" in m and f"test/{key}_uncalibrated" in m
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
        assert {"eval/reliability.png", "eval/calibration.json", "eval/corruptions.json"} <= (
            artifacts
        )
    reference = runs[CELLS[0]].data.metrics  # BE and rBE of the reference cell itself are 1
    assert math.isclose(reference["corrupt/be"], 1.0) and math.isclose(reference["corrupt/rbe"], 1)

    # the summary run's paired tests on the external images
    summary = client.search_runs(
        [runs[CELLS[0]].info.experiment_id], "tags.`medbench.kind` = 'suite'"
    )[0]  # fmt: skip
    path = "analysis/phantoms/external/yes_no/paired_tests.json"
    verdict = json.loads(Path(client.download_artifacts(summary.info.run_id, path)).read_text())
    assert set(verdict["cells"]) == set(CELLS) and verdict["metric"] == "external/yes_no/accuracy"

    table = json.loads(_cli("leaderboard", str(SUITE), "--table", "external", "--format",
                            "json", "--tracking-uri", tracking_uri))  # fmt: skip
    assert len(table) == 2
    table = json.loads(_cli("leaderboard", str(SUITE), "--table", "robustness", "--format",
                            "json", "--tracking-uri", tracking_uri))  # fmt: skip
    assert len(table) == 2

    # the promoted model applies its temperature: it serves the calibrated test probabilities
    _cli("promote", str(SUITE), "--tracking-uri", tracking_uri)
    from benchmark.serve import load_predictor

    predictor, source = load_predictor(
        "models:/brain_external_phantoms-phantoms@champion", tracking_uri=tracking_uri
    )
    best = next(run for run in runs.values() if run.info.run_id == source.run_id)
    card = source.description  # the model card says what it was tested on beyond test
    assert "## External validation" in card and "| yes_no |" in card
    assert "Confidences calibrated by a temperature" in card and "rBE" in card
    config = predictor.config
    assert math.isclose(config["temperature"], best.data.metrics["calibration/temperature"])
    text = client.download_artifacts(best.info.run_id, "eval/predictions.csv")
    _served_as_evaluated(predictor, pd.read_csv(text).head(8))


def _served_as_evaluated(predictor, sample: pd.DataFrame) -> None:
    import numpy as np

    from benchmark.data import render_phantom

    images = []
    for phantom_id, label in zip(sample["id"], sample["true"], strict=True):
        _, seed, index = phantom_id.split("_")
        images.append(render_phantom(int(index), seed=int(seed), size=64, difficulty=0.3,
                                     label=label).image)  # fmt: skip
    table = predictor.predict(images)
    expected = sample[[f"p_{name}" for name in predictor.classes]].to_numpy()
    np.testing.assert_allclose(table[predictor.classes].to_numpy(), expected, atol=1e-4)
