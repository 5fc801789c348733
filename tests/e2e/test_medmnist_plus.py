"""``suites/medmnist_plus.yaml`` as shipped, small: its training settings, schemes, tasks and
seeds on fake MedMNIST files in the official layout (BreastMNIST, binary at 0.5, and
RetinaMNIST, ordinal: the two smallest), two tiny backbones, the size of every dataset set
by one override, the mean-colour padding; the compare table sets each cell beside its
published numbers, and MedMNIST's own evaluator re-scores the exported test scores and finds
the numbers in their names and our AUROC."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from benchmark.checks import load_checked_suite
from benchmark.cli import app
from benchmark.data.layouts.medmnist import write_fake_file
from benchmark.models import backbone_stats
from benchmark.runner import run_suite
from benchmark.runner._data import cell_ops
from benchmark.suite import expand_cells
from tests.conftest import ROOT, write_suite
from tests.leaderboard.test_export import NAME, referee

FLAGS = ("breastmnist", "retinamnist")
BACKBONES = {
    "vgg16.tv_in1k": "test_resnet",
    "vit_base_patch16_224.augreg2_in21k_ft_in1k": "test_vit",
}


def fake_medmnist_plus(tmp_path) -> dict:
    """The shipped suite on fake BreastMNIST and RetinaMNIST files (noise, INFO's split
    sizes), tiny backbones for two of its own (their published rows renamed to them) and a
    tiny input size; everything else as is."""
    suite = yaml.safe_load((ROOT / "suites" / "medmnist_plus.yaml").read_text())
    root = tmp_path / "medmnist"
    root.mkdir()
    for flag in FLAGS:
        write_fake_file(root, flag, 28)
    pad = [{"pad": {"size": 48, "fill": "mean"}}]
    suite["datasets"] = {
        flag: suite["datasets"][flag] | {"root": str(root), "preprocess": pad} for flag in FLAGS
    }
    suite["backbones"] = [{"name": name, "pretrained": False} for name in BACKBONES.values()]
    suite["train"] |= {"image_size": 48, "epochs": 2}
    suite["seeds"] = suite["seeds"][:1]
    suite["evaluate"] = {"bootstrap": 0, "latency": None}
    rows = [r for r in suite["references"]["rows"] if r["backbone"] in BACKBONES
            and r.get("dataset") in (None, *suite["datasets"])]  # fmt: skip
    for r in rows:
        r["backbone"] = BACKBONES[r["backbone"]]
    suite["references"]["rows"] = rows
    return suite


def test_the_medmnist_plus_suite_runs_small_on_phantoms(tmp_path, tracking_uri, monkeypatch):
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    path = write_suite(tmp_path / "medmnist_plus.yaml", fake_medmnist_plus(tmp_path))
    suite = load_checked_suite(path, overrides=["datasets.*.options.size=28"])
    assert {d.options["size"] for d in suite.datasets.values()} == {28}
    assert {d.task.kind for d in suite.datasets.values()} == {"binary", "ordinal"}
    for cell in expand_cells(suite):  # the padding takes each backbone's mean colour
        mean, _ = backbone_stats(cell.backbone.name)
        assert cell_ops(cell) == [("pad", {"size": 48, "fill": "mean", "mean": mean})]
    outcomes = run_suite(suite, tracking_uri=tracking_uri)
    assert len(outcomes) == 2 * 2 * 3
    assert {o.status for o in outcomes} == {"finished"}, [o.error for o in outcomes]

    result = CliRunner().invoke(
        app, ["leaderboard", str(path), "--table", "compare", "--format", "json",
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    # the 28 px rows beside ours, the other sizes left out: per backbone,
    # finetune and linear_probe's ACC and AUC, knn's ACC, as a mean and for each dataset
    assert len(rows) == 2 * (2 + 2 + 1) * 3
    assert {row["dataset"] for row in rows} == {"mean of 2 datasets", *FLAGS}
    assert all(0.0 <= row["ours"] <= 1.0 for row in rows)
    vgg = {(r["dataset"], r["strategy"], r["metric"]): r["paper"] for r in rows
           if r["backbone"] == "test_resnet"}  # fmt: skip
    assert vgg[("mean of 2 datasets", "finetune", "accuracy")] == 0.8234
    assert vgg[("mean of 2 datasets", "knn", "accuracy")] == 0.6607
    assert vgg[("breastmnist", "finetune", "accuracy")] == 0.8526

    result = CliRunner().invoke(
        app, ["leaderboard", str(path), "--table", "ranks", "--format", "json",
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ranks = {(r["backbone"], r["strategy"]): r for r in json.loads(result.output)}
    assert len(ranks) == 2 * 3  # the published average of each row's size beside it
    assert ranks[("test_resnet", "finetune")]["paper_accuracy"] == 0.8234
    assert ranks[("test_vit", "knn")]["paper_accuracy"] == 0.6592

    # MedMNIST's evaluator as the referee: one file per cell and seed, its numbers re-scored
    out = tmp_path / "export"
    result = CliRunner().invoke(
        app, ["leaderboard", str(path), "--export", "medmnist", str(out),
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.csv"))
    assert len(files) == len(outcomes)
    ours = _logged_auroc(tracking_uri)
    for file in files:
        match = NAME.match(file.name)
        assert match and match.group(1) in FLAGS, file.name
        auc, acc = referee(tmp_path / "medmnist", file)
        assert (round(auc, 3), round(acc, 3)) == (float(match.group(3)), float(match.group(4)))
        assert any(abs(auc - value) < 1e-6 for value in ours[match.group(1)]), (file.name, ours)


def _logged_auroc(tracking_uri: str) -> dict[str, list[float]]:
    """Every cell run's ``test/auroc_macro`` by dataset."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("medmnist_plus")
    found: dict[str, list[float]] = {}
    for run in client.search_runs([experiment.experiment_id], "tags.`medbench.kind` = 'cell'"):
        found.setdefault(run.data.tags["medbench.dataset"], []).append(
            run.data.metrics["test/auroc_macro"]
        )
    return found
