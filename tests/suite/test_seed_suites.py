"""The seed papers' suites validate with their references and expand to the papers' cells;
the chest X-ray suites are multi-label."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite
from benchmark.suite import expand_cells
from tests.conftest import ROOT

SUITES = ROOT / "suites"
SEED_SUITES = {  # each seed suite and the layouts of its datasets
    "brain_six_models": ["brain-tumor-mri"],
    "lung_vgg19": ["iq-oth-nccd"],
    "breast_resnet50_gradcam": ["cdd-cesm", "mias"],
    "cervical_sipakmed": ["sipakmed"],
    "transfer_vgg_xray_mri": ["chest-xray-pneumonia", "brain-mri-yes-no"],
    "chestxray14_densenet": ["nih-chestxray14"],
    "chexpert_five": ["chexpert"],
    "medmnist_plus": ["medmnist"],
}
# suites without published numbers beside them: CheXpert's paper reports its five labels on
# a hidden test set, and its validation AUROCs were not checked against the source here
WITHOUT_REFERENCES = {"chexpert_five"}


@pytest.mark.parametrize("name", sorted(SEED_SUITES))
def test_seed_suite_validates_with_its_references(name, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    suite = load_checked_suite(SUITES / f"{name}.yaml")
    assert suite.name == name
    if name not in WITHOUT_REFERENCES:
        assert suite.references is not None and suite.references.rows
    assert expand_cells(suite)
    for cfg in suite.datasets.values():
        assert cfg.root.parent == tmp_path  # the data root comes from ${MEDBENCH_DATA}


def test_brain_suite_runs_the_papers_cells_and_ablations(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    cells = [c.name for c in expand_cells(load_checked_suite(SUITES / "brain_six_models.yaml"))]
    assert len(cells) == 8
    assert "brain_mri/resnet50/no_augment" in cells
    assert "brain_mri_raw/mobilenetv2_100/finetune" in cells
    ablation = next(
        c for c in expand_cells(load_checked_suite(SUITES / "brain_six_models.yaml"))
        if c.strategy == "no_augment"
    )  # fmt: skip
    assert ablation.train.augment is None and ablation.train.lr == 1e-4


def test_the_chest_suites_are_multilabel_and_cite_chexnet_per_finding(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    nih = load_checked_suite(SUITES / "chestxray14_densenet.yaml")
    assert nih.datasets["nih"].task.kind == "multilabel"
    assert {c.objective for c in expand_cells(nih)} == {"val/auroc_macro"}
    (row,) = nih.references.rows
    assert row.backbone == "densenet121" and len(row.values) == 14
    assert row.values["Pneumonia/auroc"] == 0.768  # CheXNet's headline finding
    chexpert = load_checked_suite(SUITES / "chexpert_five.yaml")
    policies = {name: d.options["uncertain"] for name, d in chexpert.datasets.items()}
    assert policies == {"u_ignore": "ignore", "u_ones": "ones"}
