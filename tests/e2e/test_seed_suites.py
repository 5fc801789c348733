"""The seed papers' suites run end to end on fake trees of their layouts (that they validate:
tests/suite/test_seed_suites.py)."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite
from benchmark.data import write_synthetic
from benchmark.runner import run_suite
from tests.suite.test_seed_suites import SEED_SUITES, SUITES

# MedMNIST+ runs small on fake MedMNIST files of its own: tests/e2e/test_medmnist_plus.py
ON_FAKE_TREES = sorted(set(SEED_SUITES) - {"medmnist_plus"})
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


@pytest.mark.slow
@pytest.mark.parametrize("name", ON_FAKE_TREES)
def test_seed_suite_runs_on_a_fake_tree(name, monkeypatch, tmp_path, tracking_uri):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    for layout in SEED_SUITES[name]:
        per_class = 30 if layout == "sipakmed" else 10  # 10 folds of 3-cell clusters per class
        write_synthetic(tmp_path / layout, layout=layout, per_class=per_class, size=48, seed=3)
    suite = load_checked_suite(SUITES / f"{name}.yaml", overrides=TINY)
    outcomes = run_suite(suite, tracking_uri=tracking_uri, storage=None, device="cpu")
    failed = {o.cell.name: o.error for o in outcomes if o.status != "finished"}
    assert not failed, failed
    assert {o.cell.dataset for o in outcomes} == set(suite.datasets)
    assert all(0.0 <= o.metrics["test/accuracy"] <= 1.0 for o in outcomes)


@pytest.mark.slow
def test_brain_compare_table_puts_the_papers_numbers_beside_ours(
    monkeypatch, tmp_path, tracking_uri
):
    from tests.cli.test_cli import invoke

    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    write_synthetic(tmp_path / "brain-tumor-mri", per_class=6, size=48, seed=3)
    overrides = [
        "backbones=[{name: resnet50, pretrained: false},"
        " {name: mobilenetv2_100, pretrained: false}]",
        *TINY[2:],
    ]
    args = [a for o in overrides for a in ("--set", o)]
    suite = str(SUITES / "brain_six_models.yaml")
    result = invoke("run", suite, *args, "--tracking-uri", tracking_uri)
    assert result.exit_code == 0, result.output
    table = invoke("leaderboard", suite, "--table", "compare", "--format", "csv",
                   "--tracking-uri", tracking_uri)  # fmt: skip
    rows = {tuple(line.split(",")[:4]): line.split(",")[4:] for line in table.output.splitlines()}
    paper, ours, diff = rows[("brain_mri", "resnet50", "finetune", "accuracy")][:3]
    assert float(paper) == 0.987 and 0 <= float(ours) <= 1
    assert float(diff) == pytest.approx(float(ours) - 0.987)
    params = rows[("brain_mri", "resnet50", "finetune", "params_m")]
    assert float(params[0]) == 23.6 and float(params[1]) == pytest.approx(23.5, abs=0.1)
    assert rows[("brain_mri", "resnet50", "no_augment", "accuracy")][0] == "0.9314"
    assert float(rows[("brain_mri_raw", "mobilenetv2_100", "finetune", "accuracy")][0]) == 0.7208
    not_run = rows[("brain_mri", "vgg19", "finetune", "accuracy")]
    assert not_run[:3] == ["0.9718", "", ""]  # published, but not run here: no number of ours
