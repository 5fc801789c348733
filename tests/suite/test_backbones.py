"""A suite's backbones: hub and folder names checked offline, their kwargs and normalisation."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite, suite_schema
from benchmark.errors import SuiteError
from benchmark.suite import expand_cells
from tests.conftest import write_suite
from tests.models._sources import write_timm_folder

UNI = {
    "name": "hf-hub:MahmoodLab/UNI",
    "kwargs": {"init_values": 1.0e-5, "dynamic_img_size": True},
    "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
}


def test_hub_and_folder_backbones_validate_offline_with_their_settings(tmp_path, tiny_suite):
    write_timm_folder(tmp_path / "models" / "mine", weights=False)
    tiny_suite["backbones"] = [UNI, "hf-hub:timm/resnet18.a1_in1k@main", "local-dir:models/mine"]
    suite = load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    uni, _, folder = suite.backbones
    assert uni.kwargs == UNI["kwargs"]
    assert uni.normalize is not None and uni.normalize.std == UNI["normalize"]["std"]
    assert folder.name == f"local-dir:{tmp_path / 'models' / 'mine'}"  # beside the suite file
    assert expand_cells(suite)[0].name == "phantoms/hf-hub:MahmoodLab/UNI/finetune"


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [
        ("hf-hub:", "backbones.0.name: backbone 'hf-hub:': expected 'hf-hub:ORG/NAME'"),
        ("hf-hub:UNI", "backbones.0.name: backbone 'hf-hub:UNI': expected 'hf-hub:ORG/NAME'"),
        ("MahmoodLab/UNI", "backbones.0.name: backbone 'MahmoodLab/UNI' looks like"),
        ("local-dir:missing", "backbones.0.name: backbone 'local-dir:"),
        ("hf-hbu:a/b", "backbones.0.name: backbone 'hf-hbu:a/b': unknown source 'hf-hbu:'"),
        (
            {"name": "test_resnet", "kwargs": {"num_classes": 3}},
            "backbones.0.kwargs: ['num_classes'] are set by medbench",
        ),
        (
            {"name": "test_resnet", "normalize": {"mean": [124, 116, 104], "std": [58, 57, 57]}},
            "backbones.0.normalize: mean must lie within [0, 1]",
        ),
        (
            {"name": "test_resnet", "normalize": {"mean": [0.5], "std": [0.5, 0.5, 0.5]}},
            "backbones.0.normalize.mean: List should have at least 3 items",
        ),
        (
            {"name": "hf-hub:a/b", "weights": "w.safetensors"},
            "backbones.0: `weights:` is for timm model names",
        ),
    ],
)
def test_bad_backbones_fail_with_their_field_path(tmp_path, tiny_suite, backbone, expected):
    tiny_suite["backbones"] = [backbone]
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    assert expected in str(info.value)
    if backbone == "local-dir:missing":
        assert f"no folder '{tmp_path / 'missing'}'" in str(info.value)


def test_the_schema_documents_kwargs_and_normalize():
    schema = suite_schema()
    backbone = schema["$defs"]["BackboneConfig"]["properties"]
    assert "timm.create_model" in backbone["kwargs"]["description"]
    assert "hf-hub:ORG/NAME" in backbone["name"]["description"]
    assert "mean and std" in backbone["normalize"]["description"]
    assert {"mean", "std"} <= set(schema["$defs"]["NormalizeConfig"]["properties"])


def test_kwargs_numbers_are_read_as_yaml_1_2_reads_them(tmp_path, tiny_suite):
    """PyYAML reads ``1e-5`` as a string; a kwarg has no type to convert it to."""
    path = write_suite(tmp_path / "s.yaml", tiny_suite)
    text = path.read_text().replace(
        "- name: test_resnet",
        "- kwargs: {init_values: 1e-5, scales: [2E+3, 1.5], note: 1e5x}\n  name: test_resnet",
    )
    path.write_text(text)
    kwargs = load_checked_suite(path).backbones[0].kwargs
    assert kwargs == {"init_values": 1e-5, "scales": [2000.0, 1.5], "note": "1e5x"}
