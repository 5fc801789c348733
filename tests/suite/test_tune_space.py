"""What a suite may tune: parameter paths, the space checked against the suite's strategies,
and how the number of trials bears on a cell's hash and its study."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite
from benchmark.errors import SuiteError
from benchmark.suite import param_path
from tests.conftest import write_suite


def test_param_paths_and_suite_validation(tmp_path, tiny_suite):
    assert param_path("lr") == ("train", "lr")
    assert param_path("freeze") == ("strategy_config", "freeze")
    assert param_path("temperature") == ("strategy_config", "temperature")
    assert param_path("train.augment.rotate") == ("train", "augment", "rotate")
    assert param_path("strategy.projection_dim") == ("strategy_config", "projection_dim")
    tiny_suite["tune"] = {"trials": 2, "space": {"lrr": {"low": 0.1, "high": 1}}}
    with pytest.raises(SuiteError, match=r"cannot tune 'lrr'.*Did you mean 'lr'"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"lr": {"low": 1, "high": 0.1}}
    with pytest.raises(SuiteError, match="`low <= high` must hold"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"train.augment.spin": {"choices": [1]}}
    with pytest.raises(SuiteError, match=r"train\.augment has no setting 'spin'"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_strategy_settings_belong_to_their_strategy(tmp_path, tiny_suite):
    tiny_suite["strategies"] = {"finetune": {"temperature": 0.1}}
    owners = "prototype or supcon strategy"
    with pytest.raises(SuiteError, match=f"temperature is a setting of the {owners}"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))


def test_a_tuned_strategy_setting_is_one_a_strategy_of_the_suite_has(tmp_path, tiny_suite):
    assert param_path("temperature") == ("strategy_config", "temperature")  # no registry here
    with pytest.raises(ValueError, match="cannot tune 'kind'"):
        param_path("kind")
    tiny_suite["tune"] = {"trials": 2, "space": {"temperatur": {"low": 0.05, "high": 0.5}}}
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    assert "no strategy of this suite has a setting 'temperatur'" in str(info.value)
    assert "Did you mean 'temperature'?" not in str(info.value)  # finetune alone has none
    tiny_suite["strategies"] = {"finetune": {}, "supcon": {}}
    tiny_suite["tune"]["space"] = {"temperatur": {"low": 0.05, "high": 0.5}}
    with pytest.raises(SuiteError, match=r"Did you mean 'temperature'\?"):
        load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite))
    tiny_suite["tune"]["space"] = {"temperature": {"low": 0.05, "high": 0.5}, "freeze": {
        "choices": [0.0, 0.5]}, "strategy.projection_dim": {"choices": [16, 32]}}  # fmt: skip
    assert load_checked_suite(write_suite(tmp_path / "s.yaml", tiny_suite)).tune is not None


def test_trials_override_extends_the_same_study(tiny_suite_file):
    from benchmark.suite import expand_cells

    four = expand_cells(load_checked_suite(tiny_suite_file, overrides=["tune.trials=4"]))[0]
    eight = expand_cells(load_checked_suite(tiny_suite_file, overrides=["tune.trials=8"]))[0]
    assert four.config_hash != eight.config_hash and four.study_key == eight.study_key
    assert four.tune.space.keys() == {"lr", "dropout", "freeze"}  # defaults
