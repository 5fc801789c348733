"""The seed papers' suites validate, and run end to end on fake trees of their layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data import write_synthetic
from benchmark.runner import run_suite
from benchmark.suite import expand_cells, load_suite

SUITES = Path(__file__).parents[1] / "suites"
SEED_SUITES = {
    "brain_six_models": ["brain-tumor-mri"],
    "lung_vgg19": ["iq-oth-nccd"],
    "breast_resnet50_gradcam": ["cdd-cesm", "mias"],
    "cervical_sipakmed": ["sipakmed"],
    "transfer_vgg_xray_mri": ["chest-xray-pneumonia", "brain-mri-yes-no"],
}
TINY = [
    "backbones=[{name: test_resnet, pretrained: false}]",
    "cells=null",
    "train.epochs=1",
    "train.batch_size=8",
    "train.image_size=32",
    "explain=null",
    "evaluate.bootstrap=20",
    "evaluate.latency={batch_sizes: [1], warmup: 1, iterations: 2}",
]


@pytest.mark.parametrize("name", sorted(SEED_SUITES))
def test_seed_suite_validates_with_its_references(name, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    suite = load_suite(SUITES / f"{name}.yaml")
    assert suite.name == name
    assert suite.references is not None and suite.references.rows
    assert expand_cells(suite)
    for cfg in suite.datasets.values():
        assert cfg.root.parent == tmp_path  # the data root comes from ${MEDBENCH_DATA}


def test_brain_suite_runs_the_papers_cells_and_ablations(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    cells = [c.name for c in expand_cells(load_suite(SUITES / "brain_six_models.yaml"))]
    assert len(cells) == 8
    assert "brain_mri/resnet50/no_augment" in cells
    assert "brain_mri_raw/mobilenetv2_100/finetune" in cells
    ablation = next(
        c for c in expand_cells(load_suite(SUITES / "brain_six_models.yaml"))
        if c.strategy == "no_augment"
    )  # fmt: skip
    assert ablation.train.augment is None and ablation.train.lr == 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEED_SUITES))
def test_seed_suite_runs_on_a_fake_tree(name, monkeypatch, tmp_path, tracking_uri):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    for layout in SEED_SUITES[name]:
        per_class = 30 if layout == "sipakmed" else 10  # 10 folds of 3-cell clusters per class
        write_synthetic(tmp_path / layout, layout=layout, per_class=per_class, size=48, seed=3)
    suite = load_suite(SUITES / f"{name}.yaml", overrides=TINY)
    outcomes = run_suite(suite, tracking_uri=tracking_uri, storage=None, device="cpu")
    failed = {o.cell.name: o.error for o in outcomes if o.status != "finished"}
    assert not failed, failed
    assert {o.cell.dataset for o in outcomes} == set(suite.datasets)
    assert all(0.0 <= o.metrics["test/accuracy"] <= 1.0 for o in outcomes)
