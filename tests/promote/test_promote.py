"""Promotion: which cell wins (rules on a runs table) and what the registry records."""

from __future__ import annotations

import hashlib
import math

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.errors import MedbenchError
from benchmark.promote import choose_champions, model_name
from tests.conftest import SMALL, SMALL_MODEL


def _runs(*rows: dict) -> pd.DataFrame:
    base = {"status": "FINISHED", "tags.medbench.dataset": "mri", "tags.medbench.error": None}
    out = []
    for i, row in enumerate(rows):
        cell = row.pop("cell", f"mri/b{i}/finetune")
        out.append({**base, "run_id": f"run{i}", "tags.medbench.cell": cell, **row})
    return pd.DataFrame(out)


F1 = "metrics.test/f1_weighted"
CI_LOW, CI_HIGH, LATENCY = f"{F1}_ci_low", f"{F1}_ci_high", "metrics.latency/b1_mean_ms"


def _chosen(runs: pd.DataFrame, metric: str = "test/f1_weighted") -> str:
    (choice,) = choose_champions(runs, metric=metric)
    return choice.winner["run_id"]


def test_the_best_metric_wins_then_the_narrower_interval_then_the_faster_model():
    runs = _runs(
        {F1: 0.80, CI_LOW: 0.70, CI_HIGH: 0.90, LATENCY: 1.0},
        {F1: 0.90, CI_LOW: 0.80, CI_HIGH: 1.00, LATENCY: 9.0},
    )
    assert _chosen(runs) == "run1"
    tie = _runs(
        {F1: 0.90, CI_LOW: 0.70, CI_HIGH: 1.00, LATENCY: 1.0},
        {F1: 0.90, CI_LOW: 0.85, CI_HIGH: 0.95, LATENCY: 9.0},
        {F1: 0.90, CI_LOW: 0.85, CI_HIGH: 0.95, LATENCY: 5.0},
    )
    assert _chosen(tie) == "run2"  # narrowest interval; of those, the lower latency


def test_lower_is_better_for_calibration_error():
    runs = _runs({"metrics.test/ece": 0.20}, {"metrics.test/ece": 0.05})
    assert _chosen(runs, "test/ece") == "run1"


def test_failed_and_unfinished_runs_are_refused_with_the_reason():
    runs = _runs(
        {F1: 0.99, "status": "FAILED", "tags.medbench.error": "RuntimeError: CUDA out of memory"},
        {F1: 0.98, "status": "RUNNING"},
        {F1: 0.50},
        {F1: math.nan},
    )
    (choice,) = choose_champions(runs, metric="test/f1_weighted")
    assert choice.winner["run_id"] == "run2"
    notes = list(choice.candidates["note"])
    assert notes[0] == "refused: run FAILED (RuntimeError: CUDA out of memory)"
    assert notes[1] == "refused: run RUNNING (unfinished)"
    assert notes[2] == "chosen" and notes[3] == "refused: no test/f1_weighted"


def test_each_dataset_gets_its_own_champion_and_a_registry_name():
    runs = _runs({F1: 0.7}, {F1: 0.9, "tags.medbench.dataset": "ct", "cell": "ct/b1/finetune"})
    assert [c.dataset for c in choose_champions(runs, metric="test/f1_weighted")] == ["ct", "mri"]
    assert model_name("brain six", "mri/t1") == "brain-six-mri-t1"


def test_an_unknown_metric_lists_the_logged_ones():
    with pytest.raises(MedbenchError, match=r"no run has the metric 'test/f1'.*test/f1_weighted"):
        choose_champions(_runs({F1: 0.9}), metric="test/f1")


def _promote(uri: str, *args: str, suite: str = "quickstart"):
    return CliRunner().invoke(app, ["promote", suite, "--tracking-uri", uri, *args])


def test_promote_registers_the_best_quickstart_cell_once(quickstart_uri):
    """The quickstart's own promotion, as the README runs it."""
    client = MlflowClient(quickstart_uri)
    versions = client.search_model_versions("name = 'quickstart-phantoms'")
    assert len(versions) == 1  # the session's promotion
    version = versions[0]
    assert client.get_registered_model("quickstart-phantoms").aliases == {"champion": 1}
    runs = track.connect(quickstart_uri).cell_runs("quickstart")
    best = runs.loc[runs["metrics.test/f1_weighted"].idxmax()]
    assert version.run_id == best["run_id"]
    tags = version.tags
    assert tags["medbench.cell"] == best["tags.medbench.cell"]
    assert tags["medbench.config_hash"] == best["tags.medbench.config_hash"]
    assert tags["medbench.suite"] == "quickstart" and tags["medbench.metric"] == "test/f1_weighted"
    assert float(tags["test/f1_weighted"]) == pytest.approx(best["metrics.test/f1_weighted"])
    mlflow.set_tracking_uri(quickstart_uri)
    model = mlflow.artifacts.download_artifacts("models:/quickstart-phantoms/1")
    with open(f"{model}/artifacts/model.safetensors", "rb") as f:
        assert tags["medbench.weights_sha256"] == hashlib.sha256(f.read()).hexdigest()

    again = _promote(quickstart_uri)
    assert again.exit_code == 0, again.output
    assert "already registered: version 1" in again.output
    assert len(client.search_model_versions("name = 'quickstart-phantoms'")) == 1


def test_the_registered_version_carries_its_model_card(small_uri):
    client = MlflowClient(small_uri)
    version = client.get_model_version_by_alias(SMALL_MODEL, "champion")
    card = version.description
    run = client.get_run(version.run_id)
    metrics, cell = run.data.metrics, run.data.tags["medbench.cell"]
    assert card.startswith(f"# {SMALL}: {cell}")
    rows = {line.split("|")[1].strip(): line for line in card.splitlines()
            if line.startswith("| train") or line.startswith("| validation")
            or line.startswith("| test")}  # fmt: skip
    for name, split in (("train", "train"), ("validation", "val"), ("test", "test")):
        counts = [int(c) for c in rows[name].strip("| ").split("|")[1:]]
        assert counts[0] == metrics[f"data/{split}_images"] == sum(counts[1:])
    accuracy = metrics["test/accuracy"]
    low, high = metrics["test/accuracy_ci_low"], metrics["test/accuracy_ci_high"]
    assert f"| Accuracy | {accuracy:.3f} | {low:.3f}–{high:.3f} |" in card
    assert "Backbone `" + run.data.tags["medbench.backbone"] + "`" in card
    assert "not significantly worse" in card or "Significantly worse" in card  # the summary
    assert "Audit: 0 test images duplicate" in card
    assert "Not a medical device" in card


def test_a_model_card_without_dataset_inputs_uses_the_split_counts():
    from benchmark.promote import model_card

    winner = pd.Series({
        "tags.medbench.suite": "s", "tags.medbench.cell": "d/b/f",
        "metrics.data/train_images": 60.0, "metrics.data/val_images": 20.0,
        "metrics.data/test_images": 20.0, "metrics.test/accuracy": 0.9,
        "metrics.data/test_leaks": 2.0, "metrics.data/dropped_leaks": 2.0,
    })  # fmt: skip
    card = model_card(winner, metric="test/accuracy", verdict={"not_worse_than_best": False,
                                                               "p_vs_best": 0.01})  # fmt: skip
    assert "Images: train 60, val 20, test 20." in card
    assert "| Accuracy | 0.900 |  |" in card
    assert "2 test images duplicate a training or validation image (2 dropped" in card
    assert "Significantly worse than the best cell (p = 0.01)" in card


def test_promote_dry_run_registers_nothing_and_names_are_checked(small_uri):
    dry = _promote(small_uri, "--dry-run", "--name", "other", "--alias", "candidate", suite=SMALL)
    assert dry.exit_code == 0, dry.output
    assert "would register run" in dry.output and "other @candidate" in dry.output
    assert MlflowClient(small_uri).search_registered_models(filter_string="name = 'other'") == []
    bad = _promote(small_uri, "--dataset", "lungs", suite=SMALL)
    assert bad.exit_code == 1 and f"--dataset lungs: suite '{SMALL}' has ['phantoms']" in bad.output


def test_promote_refuses_a_cell_whose_latest_run_failed(small_uri):
    client = MlflowClient(small_uri)
    runs = track.connect(small_uri).cell_runs(SMALL)
    best = runs.loc[runs["metrics.test/f1_weighted"].idxmax()]
    client.set_tag(best["run_id"], "medbench.error", "KeyboardInterrupt: ")
    client.set_terminated(best["run_id"], status="FAILED")
    result = _promote(small_uri, "--name", "second", suite=SMALL)
    assert result.exit_code == 0, result.output
    assert "refused: run FAILED" in result.output
    (version,) = client.search_model_versions("name = 'second'")
    assert version.run_id != best["run_id"]


def test_promotion_returns_each_dataset_s_outcome_and_hashes_a_run_that_recorded_none(
    tracking_uri, tmp_path
):
    """A run logged before medbench recorded weight hashes is promoted with the hash of its
    weights, computed from the downloaded model."""
    import json

    from benchmark.promote import promote
    from tests.serve.test_integrity import _tiny_model

    store = track.connect(tracking_uri)
    experiment = store.ensure_experiment("old")
    folder = _tiny_model(tmp_path / "trained", seed=0)
    tags = {"medbench.cell": "scans/test_resnet/finetune", "medbench.dataset": "scans"}
    with store.start_run(experiment, name="scans/test_resnet/finetune", kind="cell",
                         tags=tags) as run:  # fmt: skip
        run.log_metrics({"test/f1_weighted": 0.75})
        run.log_model(folder)
    MlflowClient(tracking_uri).delete_tag(run.run_id, track.SHA_TAG)  # as an older medbench
    (stored,) = (tmp_path / "mlruns" / "artifacts").rglob("config.json")
    config = json.loads(stored.read_text())
    stored.write_text(json.dumps({k: v for k, v in config.items() if k != "weights_sha256"}))

    (planned,) = promote(store, suite="old", metric="f1_weighted", dry_run=True)
    assert (planned.model, planned.version, planned.run_id) == ("old-scans", None, run.run_id)
    assert list(planned.choice.candidates["note"]) == ["chosen"]
    (done,) = promote(store, suite="old", alias="best")
    assert (done.model, done.version, done.created, done.cell) == (
        "old-scans", "1", True, "scans/test_resnet/finetune"
    )  # fmt: skip
    version = MlflowClient(tracking_uri).get_model_version_by_alias("old-scans", "best")
    assert version.tags[track.SHA_TAG] == track.weights_sha256(folder)
    with pytest.raises(MedbenchError, match=r"--dataset lungs: suite 'old' has \['scans'\]"):
        list(promote(store, suite="old", dataset="lungs"))
