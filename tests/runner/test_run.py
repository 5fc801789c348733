"""End to end: a tiny suite into a temporary MLflow store, checked against the contract."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.runner import run_suite

CONTRACT_TAGS = {
    "medbench.suite", "medbench.cell", "medbench.dataset", "medbench.backbone",
    "medbench.strategy", "medbench.config_hash", "medbench.licence", "medbench.commercial",
}  # fmt: skip
CONTRACT_METRICS = {
    "test/accuracy", "test/precision_weighted", "test/recall_weighted", "test/f1_weighted",
    "test/f1_macro", "test/balanced_accuracy", "test/mcc", "params/total", "params/trainable",
    "params/backbone", "time/train_s", "time/train_img_per_s",
    "test/glioma/precision", "test/glioma/recall", "test/glioma/f1", "test/glioma/support",
    "test/auroc_macro", "test/ece", "test/kappa", "test/log_loss",
    "test/accuracy_ci_low", "test/accuracy_ci_high", "test/f1_weighted_ci_low",
    "test/f1_weighted_ci_high", "test/f1_macro_ci_low", "test/auroc_macro_ci_high",
    "test/glioma/sensitivity", "test/glioma/specificity", "test/glioma/auroc",
    "flops/gmacs", "time/epoch_s", "memory/peak_mb", "latency/b1_mean_ms", "latency/b1_min_ms",
    "latency/b1_max_ms", "latency/b1_p50_ms", "latency/b1_p95_ms", "latency/b8_img_per_s",
}  # fmt: skip
CONTRACT_ARTIFACTS = {
    "config/suite.resolved.yaml", "data/split.csv", "eval/confusion_matrix.png",
    "eval/confusion_matrix.json", "eval/classification_report.json", "eval/predictions.csv",
}  # fmt: skip
MODEL_FILES = {"MLmodel", "artifacts/model.safetensors", "artifacts/config.json"}


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


@pytest.fixture
def two_cell_suite(tiny_suite_file):
    return load_checked_suite(
        tiny_suite_file,
        overrides=[
            "backbones=[{name: test_resnet, pretrained: false},"
            " {name: test_efficientnet, pretrained: false}]"
        ],
    )


def test_run_records_the_mlflow_contract(two_cell_suite, tracking_uri, tmp_path):
    outcomes = run_suite(two_cell_suite, tracking_uri=tracking_uri)
    assert [o.status for o in outcomes] == ["finished", "finished"]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.artifact_location == (tmp_path / "mlruns" / "artifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'cell'")
    assert sorted(r.info.run_name for r in runs) == [
        "phantoms/test_efficientnet/finetune", "phantoms/test_resnet/finetune"
    ]  # fmt: skip
    for run in runs:
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert set(tags) >= CONTRACT_TAGS and tags["medbench.kind"] == "cell"
        assert tags["medbench.cell"] == run.info.run_name
        assert set(run.data.metrics) >= CONTRACT_METRICS
        assert run.data.params["train.epochs"] == "2"
        assert 0.0 <= run.data.metrics["test/accuracy"] <= 1.0
        curve = client.get_metric_history(run.info.run_id, "val/f1_weighted")
        assert [m.step for m in curve] == [1, 2]
        assert _artifacts(client, run.info.run_id) >= CONTRACT_ARTIFACTS
        model = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model"))
        files = {str(p.relative_to(model)) for p in model.rglob("*") if p.is_file()}
        assert files >= MODEL_FILES, "the cell's model is a pyfunc model of its run"

    run = runs[0]
    split = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/data/split.csv")
    assert split.splitlines()[0] == "id,label,split,group,sha256"
    n_test = sum(line.split(",")[2] == "test" for line in split.splitlines()[1:])
    assert run.data.metrics["data/test_images"] == n_test
    predictions = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/eval/predictions.csv")
    assert len(predictions.splitlines()) == n_test + 1
    confusion = json.loads(
        mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/eval/confusion_matrix.json")
    )
    assert sum(map(sum, confusion["matrix"])) == n_test


def test_resume_skips_finished_cells_and_no_resume_reruns(tiny_suite_file, tracking_uri):
    suite = load_checked_suite(tiny_suite_file, overrides=["train.epochs=1"])
    first = run_suite(suite, tracking_uri=tracking_uri)
    second = run_suite(suite, tracking_uri=tracking_uri)
    assert second[0].status == "skipped" and second[0].run_id == first[0].run_id
    changed = run_suite(
        load_checked_suite(tiny_suite_file, overrides=["train.epochs=1", "train.lr=0.02"]),
        tracking_uri=tracking_uri,
    )
    assert changed[0].status == "finished"
    forced = run_suite(suite, tracking_uri=tracking_uri, resume=False)
    assert forced[0].status == "finished" and forced[0].run_id != first[0].run_id


def test_a_failing_cell_is_recorded_and_the_others_still_run(
    tiny_suite_file, tracking_uri, tmp_path
):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            "train.epochs=1",
            f"backbones=[{{name: test_vit, weights: {tmp_path}/missing.safetensors}},"
            " {name: test_resnet, pretrained: false}]",
        ],
    )
    outcomes = run_suite(suite, tracking_uri=tracking_uri)
    assert [o.status for o in outcomes] == ["failed", "finished"]
    assert "missing.safetensors" in outcomes[0].error
    run = MlflowClient(tracking_uri).get_run(outcomes[0].run_id)
    assert run.info.status == "FAILED"
    assert "missing.safetensors" in run.data.tags["medbench.error"]


def test_runs_left_running_by_a_dead_process_are_marked_failed(tiny_suite_file, tracking_uri):
    experiment_id = track.connect(tracking_uri).ensure_experiment("tiny")
    client = MlflowClient(tracking_uri)
    import socket

    stale = client.create_run(
        experiment_id,
        tags={
            "medbench.kind": "cell",
            "medbench.pid": "999999999",
            "medbench.host": socket.gethostname(),
        },
    )
    run_suite(
        load_checked_suite(tiny_suite_file, overrides=["train.epochs=1"]), tracking_uri=tracking_uri
    )
    assert client.get_run(stale.info.run_id).info.status == "FAILED"


def test_bad_data_fails_before_any_run_is_created(tiny_suite_file, tracking_uri, tmp_path):
    from benchmark.errors import DataError

    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[f"datasets={{mri: {{layout: brain-tumor-mri, root: {tmp_path}/none}}}}"],
    )
    with pytest.raises(DataError, match="does not exist"):
        run_suite(suite, tracking_uri=tracking_uri)
    assert MlflowClient(tracking_uri).get_experiment_by_name("tiny") is None


def test_suite_summary_has_paired_tests_and_error_overlap(tiny_suite_file, tracking_uri):
    suite = load_checked_suite(
        tiny_suite_file,
        overrides=[
            "train.epochs=1",
            "backbones=[{name: test_resnet, pretrained: false}, "
            "{name: test_efficientnet, pretrained: false}, {name: test_vit, pretrained: false}]",
        ],
    )
    run_suite(suite, tracking_uri=tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("tiny")
    summaries = client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'suite'")
    assert [r.info.run_name for r in summaries] == ["summary"]
    run_id = summaries[0].info.run_id
    assert {
        "analysis/phantoms/mcnemar_holm_p.csv", "analysis/phantoms/paired_tests.json",
        "analysis/phantoms/error_overlap.csv", "analysis/phantoms/error_overlap_counts.json",
        "analysis/phantoms/error_overlap.png",
    } <= _artifacts(client, run_id)  # fmt: skip
    store = track.connect(tracking_uri)
    paired = store.suite_analysis("tiny", "paired_tests.json")["phantoms"]
    cells = paired["cells"]
    assert (
        len(cells) == 3 and paired["best"] in cells and cells[paired["best"]]["not_worse_than_best"]
    )
    assert all(0.0 <= c["p_vs_best"] <= 1.0 for c in cells.values())
    counts = json.loads(store.artifact_text(run_id, "analysis/phantoms/error_overlap_counts.json"))
    n_test = int(client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'cell'")[0]
                 .data.metrics["data/test_images"])  # fmt: skip
    assert sum(counts[f"wrong_in_{k}"] for k in range(4)) == n_test == paired["images"]

    run_suite(suite, tracking_uri=tracking_uri)  # all cells skipped, the summary replaced
    active = client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'suite'")
    assert len(active) == 1 and active[0].info.run_id != run_id


def test_compiled_latency_is_reported_beside_the_eager_one(
    monkeypatch, tiny_suite_file, tracking_uri
):
    import functools

    from benchmark.checks import load_checked_suite
    from benchmark.runner import run_suite

    calls, original = [], torch.compile

    def eager(model, **kwargs):  # compiling for real takes about a minute on a CPU
        calls.append(kwargs)
        return functools.partial(original, backend="eager")(model, **kwargs)

    monkeypatch.setattr(torch, "compile", eager)
    suite = load_checked_suite(
        tiny_suite_file, overrides=["evaluate.latency.compile=true", "train.epochs=1"]
    )
    metrics = run_suite(suite, tracking_uri=tracking_uri)[0].metrics
    # CUDA graphs ("reduce-overhead") on a GPU only; static shapes: a graph per batch size
    assert calls == [{"mode": None, "dynamic": False}]
    for key in ("b1_mean_ms", "b1_p95_ms", "b8_img_per_s"):
        assert metrics[f"latency/{key}"] > 0 and metrics[f"latency/compiled_{key}"] > 0
