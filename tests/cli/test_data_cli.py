"""``medbench data synth|inspect|audit`` and the audit inside ``medbench run``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from mlflow import MlflowClient

from benchmark.data import SYNTH_LAYOUTS
from tests.cli.test_cli import invoke
from tests.conftest import write_suite


def test_synth_writes_every_layout_inspect_finds_its_counts_and_list_shows_them(tmp_path):
    for layout in SYNTH_LAYOUTS:
        out = tmp_path / layout
        result = invoke(
            "data", "synth", str(out), "--layout", layout, "--per-class", "3", "--size", "32"
        )
        assert result.exit_code == 0, result.output
        assert f"in the {layout} layout" in result.output
        lines = result.output.strip().splitlines()
        written = {}
        for line in lines[: lines.index(next(x for x in lines if x.startswith("Wrote")))]:
            split, per = line.split(": ", 1)  # "train: glioma 2, meningioma 2"
            written[split] = {k: int(n) for k, n in (x.rsplit(" ", 1) for x in per.split(", "))}
        inspected = invoke("data", "inspect", str(out), "--layout", layout, "--format", "json")
        assert inspected.exit_code == 0, inspected.output
        report = json.loads(inspected.output)
        if layout == "medmnist":  # a listing of the MedMNIST files found, each with its counts
            (report,) = report["files"]
            report["bad_files"] = [report["problem"]] if report["problem"] else []
        assert report["splits"] == written and report["bad_files"] == []
    result = invoke("list", "layouts")
    assert all(layout in result.output for layout in (*SYNTH_LAYOUTS, "synthetic"))
    result = invoke("list", "preprocess")
    for op in ("crop_brain_contour", "bilateral", "colormap", "clahe", "minmax", "to_rgb"):
        assert op in result.output
    result = invoke("data", "synth", str(tmp_path / "x"), "--layout", "dicom-zoo")
    assert result.exit_code == 1 and "cannot synthesise layout 'dicom-zoo'" in result.output


def test_inspect_prints_counts_sizes_modes_and_bad_files(tmp_path):
    root = tmp_path / "bt"
    invoke("data", "synth", str(root), "--per-class", "5", "--size", "40")
    (root / "Training/glioma/broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = invoke("data", "inspect", str(root), "--layout", "brain-tumor-mri", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["splits"] == {
        "test": dict.fromkeys(["glioma", "meningioma", "notumor", "pituitary"], 1),
        "train": dict.fromkeys(["glioma", "meningioma", "notumor", "pituitary"], 4),
    }
    assert report["sizes"]["train"]["glioma"] == {"40x40": 4}
    assert report["modes"]["test"]["notumor"] == {"L": 1}
    assert [b["path"].rsplit("/", 1)[1] for b in report["bad_files"]] == ["broken.jpg"]
    table = invoke("data", "inspect", str(root), "--layout", "brain-tumor-mri")
    assert "40x40 ×4" in table.output and "unreadable:" in table.output
    wrong = invoke("data", "inspect", str(root), "--layout", "mias")
    assert wrong.exit_code == 1 and "not in the mias layout" in wrong.output


def test_audit_of_a_folder_and_of_a_suite(tmp_path):
    root = tmp_path / "bt"
    invoke("data", "synth", str(root), "--per-class", "6", "--size", "48")
    shutil.copy(root / "Training/glioma/Tr-gl_0000.jpg", root / "Testing/glioma/Te-dup.jpg")
    result = invoke("data", "audit", str(root), "--layout", "brain-tumor-mri", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.output)["bt"]
    assert report["counts"]["test_leaks"] == 1
    assert report["test_leaks"] == ["Testing/glioma/Te-dup.jpg"]
    table = invoke("data", "audit", str(root), "--layout", "brain-tumor-mri")
    assert "1 test image(s) leak" in table.output and "Te-dup.jpg" in table.output

    suite = {
        "name": "audited",
        "datasets": {"mri": {"layout": "brain-tumor-mri", "root": str(root)}},
        "backbones": [{"name": "test_resnet", "pretrained": False}],
        "audit": {"on_leak": "fail"},
    }
    result = invoke("data", "audit", str(write_suite(tmp_path / "s.yaml", suite)))
    assert result.exit_code == 0 and "Policy on_leak: fail" in result.output


def test_audit_of_a_multilabel_folder_needs_no_task(tmp_path):
    """A folder audited without a suite: a layout with several labels an image is audited
    as the multi-label dataset it is (a suite must say `task: multilabel`)."""
    root = tmp_path / "nih"
    invoke("data", "synth", str(root), "--layout", "nih-chestxray14", "--per-class", "3",
           "--size", "48")  # fmt: skip
    result = invoke("data", "audit", str(root), "--layout", "nih-chestxray14", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nih"]["counts"]["images"] > 0


def test_run_logs_the_audit_and_applies_the_leak_policy(tmp_path, tiny_suite, tracking_uri):
    root = tmp_path / "bt"
    invoke("data", "synth", str(root), "--per-class", "8", "--size", "32")
    shutil.copy(root / "Training/notumor/Tr-no_0001.jpg", root / "Testing/notumor/Te-dup.jpg")
    (root / "Training/glioma/empty.jpg").write_bytes(b"")
    tiny_suite["datasets"] = {"mri": {"layout": "brain-tumor-mri", "root": str(root)}}
    tiny_suite["audit"] = {"on_leak": "fail"}
    path = write_suite(tmp_path / "suite.yaml", tiny_suite)
    failed = invoke("run", str(path), "--tracking-uri", tracking_uri)
    assert failed.exit_code == 1 and "1 test image(s) duplicate" in failed.output
    assert MlflowClient(tracking_uri).get_experiment_by_name("tiny") is None  # nothing ran

    result = invoke("run", str(path), "--tracking-uri", tracking_uri, "--set", "audit.on_leak=drop")
    assert result.exit_code == 0, result.output
    assert "1 unreadable file(s) left out" in result.output
    assert "dropped from the test split" in result.output
    client = MlflowClient(tracking_uri)
    run = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])[0]
    assert run.data.metrics["data/test_leaks"] == 1
    assert run.data.metrics["data/dropped_leaks"] == 1
    assert run.data.metrics["data/bad_files"] == 1
    assert run.data.metrics["data/test_images"] == 4 * 2 + 1 - 1  # the copy added, then dropped
    local = client.download_artifacts(run.info.run_id, "data/audit.json", str(tmp_path))
    audit = json.loads(Path(local).read_text())
    assert audit["test_leaks"] == ["Testing/notumor/Te-dup.jpg"]
    board = invoke("leaderboard", str(path), "--tracking-uri", tracking_uri)
    assert "test_leaks" in board.output and "may be inflated" in board.output
    markdown = invoke("leaderboard", str(path), "--tracking-uri", tracking_uri, "--format", "csv")
    assert markdown.output.splitlines()[0].endswith("test_leaks")


def test_leaderboard_shows_no_leak_column_when_nothing_leaks():
    import pandas as pd

    from benchmark.leaderboard import build_table

    runs = pd.DataFrame(
        {
            "tags.medbench.dataset": ["d", "d"],
            "tags.medbench.backbone": ["a", "b"],
            "tags.medbench.strategy": ["s", "s"],
            "metrics.test/accuracy": [0.9, 0.8],
            "metrics.data/test_leaks": [0.0, 0.0],
        }
    )
    assert "test_leaks" not in build_table("summary", runs).frame
    runs.loc[1, "metrics.data/test_leaks"] = 3.0
    assert build_table("summary", runs).frame["test_leaks"].tolist() == [0.0, 3.0]


def test_cache_reports_its_size_and_clears(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "bt"
    invoke("data", "synth", str(root), "--per-class", "2", "--size", "32")
    invoke("data", "inspect", str(root), "--layout", "brain-tumor-mri")  # fills the facts
    shown = invoke("data", "cache")
    assert f"{tmp_path / 'cache'}: 1 files" in shown.output
    assert "Embeddings: 0 key(s)" in shown.output
    cleared = invoke("data", "cache", "--clear")
    assert "Cleared" in cleared.output and not (tmp_path / "cache").exists()
    monkeypatch.setenv("MEDBENCH_CACHE", "off")
    assert "off" in invoke("data", "cache").output


def test_cache_shows_embeddings_per_backbone_and_clears_them_alone(tmp_path, monkeypatch):
    from benchmark.embeddings import EmbeddingStore

    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDBENCH_CACHE", str(cache))
    invoke("data", "inspect", str(_synth(tmp_path)), "--layout", "brain-tumor-mri")
    store = EmbeddingStore(cache / "embeddings")
    rows = np.ones((3, 8), np.float32)
    store.put("k1", ["a", "b", "c"], rows, about={"backbone": "resnet10t"})
    store.put("k1", ["d"], rows[:1], about={"backbone": "resnet10t"})
    store.put("k2", ["a", "b"], rows[:2], about={"backbone": "resnet10t", "image_size": 64})
    store.put("k3", ["a"], rows[:1], about={"backbone": "test_vit"})

    shown = invoke("data", "cache")
    assert shown.exit_code == 0 and "Embeddings: 3 key(s)" in shown.output
    cells = [[c.strip() for c in line.strip("│").split("│")]
             for line in shown.output.splitlines() if line.startswith("│")]  # fmt: skip
    # backbone, keys, images (summed over its keys: 4 + 2), MiB
    assert [row[:3] for row in cells] == [["resnet10t", "2", "6"], ["test_vit", "1", "1"]]

    images_only = invoke("data", "cache", "--only", "images")
    assert "Embeddings" not in images_only.output and "1 files" in images_only.output
    cleared = invoke("data", "cache", "--clear", "--only", "embeddings")
    assert "Cleared the embeddings" in cleared.output
    assert not (cache / "embeddings").exists() and (cache / "facts.sqlite").exists()
    assert "Embeddings: 0 key(s)" in invoke("data", "cache").output
    cleared = invoke("data", "cache", "--clear", "--only", "images")
    assert not (cache / "facts.sqlite").exists() and cache.exists()


def _synth(tmp_path: Path) -> Path:
    root = tmp_path / "bt"
    invoke("data", "synth", str(root), "--per-class", "2", "--size", "32")
    return root
