"""``evaluate.external``, ``evaluate.corruptions`` and ``evaluate.calibration`` in the suite:
external datasets never become cells, bad settings are refused at their field path, and
suites without them keep their cells' hashes."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite
from benchmark.errors import SuiteError
from benchmark.suite import expand_cells
from tests.conftest import ROOT, write_suite

SITE_B = {"layout": "synthetic", "options": {"per_class": 5, "size": 32, "seed": 7}}


def _load(tmp_path, suite: dict):
    return load_checked_suite(write_suite(tmp_path / "s.yaml", suite))


def _refused(tmp_path, suite: dict) -> str:
    with pytest.raises(SuiteError) as info:
        _load(tmp_path, suite)
    return str(info.value)


def test_external_datasets_are_tested_on_never_trained_on(tmp_path, tiny_suite):
    before = expand_cells(_load(tmp_path, tiny_suite))
    tiny_suite["datasets"]["site_b"] = SITE_B
    tiny_suite["evaluate"]["external"] = ["site_b"]  # a list of names is {name: {}}
    (cell,) = expand_cells(_load(tmp_path, tiny_suite))
    assert cell.name == "phantoms/test_resnet/finetune"
    assert list(cell.external) == ["site_b"] and cell.external["site_b"].use.split == "test"
    assert cell.external["site_b"].data.options["seed"] == 7
    assert cell.config_hash != before[0].config_hash  # what it is tested on is part of it
    # a suite without the new settings keeps its cells' hashes (and what resumes)
    assert "external" not in before[0].resolved()
    assert set(before[0].resolved()["evaluate"]) == {
        "batch_size", "bootstrap", "level", "alpha", "latency"
    }  # fmt: skip


def test_trained_on_limits_which_cells_are_tested(tmp_path, tiny_suite):
    tiny_suite["datasets"]["other"] = tiny_suite["datasets"]["phantoms"]
    tiny_suite["datasets"]["site_b"] = SITE_B
    tiny_suite["evaluate"]["external"] = {"site_b": {"trained_on": ["other"], "split": "all"}}
    cells = {c.dataset: c for c in expand_cells(_load(tmp_path, tiny_suite))}
    assert sorted(cells) == ["other", "phantoms"]
    assert not cells["phantoms"].external and list(cells["other"].external) == ["site_b"]


def test_bad_external_settings_are_refused_at_their_field(tmp_path, tiny_suite):
    tiny_suite["evaluate"]["external"] = {"site_c": {}}
    message = _refused(tmp_path, tiny_suite)
    assert "evaluate.external.site_c" in message and "not a dataset of the suite" in message
    tiny_suite["evaluate"]["external"] = {"phantoms": {}}
    assert "keep at least one that cells train on" in _refused(tmp_path, tiny_suite)
    tiny_suite["datasets"]["site_b"] = SITE_B
    tiny_suite["evaluate"]["external"] = {"site_b": {"trained_on": ["site_b"]}}
    assert "evaluate.external.site_b.trained_on.0" in _refused(tmp_path, tiny_suite)
    tiny_suite["evaluate"]["external"] = {"site_b": {"split": "val"}}
    assert "evaluate.external.site_b.split" in _refused(tmp_path, tiny_suite)


def test_bad_corruptions_are_refused_at_their_field(tmp_path, tiny_suite):
    tiny_suite["evaluate"]["corruptions"] = {"kinds": ["gaussian_noise", "gausian_blur"]}
    message = _refused(tmp_path, tiny_suite)
    assert "evaluate.corruptions.kinds.1" in message and "gaussian_blur" in message  # a hint
    tiny_suite["evaluate"]["corruptions"] = {"kinds": ["gaussian_noise"], "severities": [1, 6]}
    message = _refused(tmp_path, tiny_suite)
    assert "evaluate.corruptions.severities.1" in message and "1 to 5" in message
    tiny_suite["evaluate"]["corruptions"] = {"kinds": ["pixelate"], "reference": "resnet18/x"}
    message = _refused(tmp_path, tiny_suite)
    assert "evaluate.corruptions.reference" in message and "not in the grid" in message
    assert "test_resnet/finetune" in message


def test_corruptions_and_calibration_reach_the_cells(tmp_path, tiny_suite):
    tiny_suite["evaluate"] |= {
        "calibration": "temperature",
        "corruptions": {"kinds": ["pixelate"], "severities": [5, 1],
                        "reference": "test_resnet/finetune"},
    }  # fmt: skip
    (cell,) = expand_cells(_load(tmp_path, tiny_suite))
    assert cell.evaluate.calibration == "temperature"
    assert cell.evaluate.corruptions.severities == [1, 5]
    tiny_suite["evaluate"]["calibration"] = "platt"
    assert "evaluate.calibration" in _refused(tmp_path, tiny_suite)


@pytest.mark.parametrize("name", ["brain_external", "brain_external_phantoms"])
def test_the_shipped_suites_validate(name, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path))
    suite = load_checked_suite(ROOT / "suites" / f"{name}.yaml")
    cells = expand_cells(suite)
    assert cells and all(cell.external for cell in cells)
    assert not {cell.dataset for cell in cells} & set(suite.evaluate.external)
    assert suite.evaluate.calibration == "temperature" and suite.evaluate.corruptions


def test_a_reference_left_out_by_cells_is_refused(tmp_path, tiny_suite):
    tiny_suite["backbones"].append({"name": "test_efficientnet", "pretrained": False})
    tiny_suite["evaluate"]["corruptions"] = {"kinds": ["pixelate"],
                                             "reference": "test_resnet/finetune"}  # fmt: skip
    tiny_suite["cells"] = ["*/test_efficientnet/*"]
    with pytest.raises(SuiteError, match=r"reference cells \['phantoms/test_resnet/finetune'\]"):
        expand_cells(_load(tmp_path, tiny_suite))


def test_tests_after_training_keep_the_study(tmp_path, tiny_suite):
    tiny_suite["tune"] = {"trials": 2, "space": {"lr": {"low": 0.001, "high": 0.1}}}
    (plain,) = expand_cells(_load(tmp_path, tiny_suite))
    tiny_suite["datasets"]["site_b"] = SITE_B
    tiny_suite["evaluate"] |= {"external": ["site_b"], "calibration": "temperature",
                               "corruptions": {"kinds": ["pixelate"]}}  # fmt: skip
    (tested,) = expand_cells(_load(tmp_path, tiny_suite))
    assert tested.config_hash != plain.config_hash  # the cell runs again, for the new tests
    assert tested.study_key == plain.study_key  # but its tuning is reused
