"""The label-efficiency axis (``train.shots`` or ``train.fraction``, ``train.episodes``): a
cell per value, named and hashed apart, suites without it unchanged, bad settings refused
with their field path."""

from __future__ import annotations

import pytest

from benchmark.checks import load_checked_suite
from benchmark.errors import SuiteError
from benchmark.suite import expand_cells
from tests.conftest import write_suite


def _cells(tmp_path, suite: dict, **train):
    suite["train"] |= train
    return expand_cells(load_checked_suite(write_suite(tmp_path / "s.yaml", suite)))


def _refused(tmp_path, suite: dict) -> str:
    with pytest.raises(SuiteError) as info:
        load_checked_suite(write_suite(tmp_path / "bad.yaml", suite))
    return str(info.value)


def test_each_value_of_the_axis_is_a_cell_named_and_hashed_apart(tmp_path, tiny_suite):
    cells = _cells(tmp_path, tiny_suite, shots=[1, 5, 10], episodes=3)
    assert [c.name for c in cells] == [
        "phantoms/test_resnet/finetune/1-shot",
        "phantoms/test_resnet/finetune/5-shot",
        "phantoms/test_resnet/finetune/10-shot",
    ]
    assert [c.shots for c in cells] == [1, 5, 10] and {c.fraction for c in cells} == {None}
    assert {c.train.episodes for c in cells} == {3}
    assert len({c.config_hash for c in cells}) == 3
    assert len({c.study_key for c in cells}) == 3  # each value tunes on its own draw
    assert cells[1].resolved()["train"]["shots"] == [5]
    # adding a value leaves the other cells' hashes (and what resumes) as they were
    more = _cells(tmp_path, tiny_suite, shots=[1, 5, 10, 25], episodes=3)
    assert [c.config_hash for c in more[:3]] == [c.config_hash for c in cells]


def test_fractions_are_named_in_percent_safe_in_file_names(tmp_path, tiny_suite):
    cells = _cells(tmp_path, tiny_suite, fraction=[0.01, 0.125, 1.0])
    assert [c.name.rsplit("/", 1)[1] for c in cells] == ["1pct", "12.5pct", "100pct"]
    assert [c.fraction for c in cells] == [0.01, 0.125, 1.0]


def test_suites_without_the_axis_keep_their_names_and_hashes(tmp_path, tiny_suite):
    (cell,) = _cells(tmp_path, tiny_suite)
    assert cell.name == "phantoms/test_resnet/finetune" and cell.budget == ""
    assert "shots" not in cell.resolved()["train"]
    # the hash this cell had before the axis existed (a schema change that moves every
    # hash on purpose updates it; the axis alone must not)
    assert cell.config_hash == "eb055fdb955fa195"


def test_a_strategy_can_have_the_axis_alone(tmp_path, tiny_suite):
    tiny_suite["strategies"]["probe"] = {"kind": "linear_probe", "train": {"fraction": [0.5]}}
    names = [c.name for c in _cells(tmp_path, tiny_suite)]
    assert names == ["phantoms/test_resnet/finetune", "phantoms/test_resnet/probe/50pct"]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["phantoms/*/finetune"], ["1-shot", "5-shot"]),  # without the value: every value
        (["*/5-shot"], ["5-shot"]),
        (["phantoms/test_resnet/finetune/1-*"], ["1-shot"]),
    ],
)
def test_cells_patterns_match_with_or_without_the_value(tmp_path, tiny_suite, patterns, expected):
    tiny_suite["cells"] = patterns
    cells = _cells(tmp_path, tiny_suite, shots=[1, 5])
    assert [c.name.rsplit("/", 1)[1] for c in cells] == expected


def test_bad_label_efficiency_settings_name_their_field(tmp_path, tiny_suite):
    tiny_suite["train"] |= {"shots": [1, 5], "fraction": [0.1]}
    assert "train.fraction: give either `shots` or `fraction`" in _refused(tmp_path, tiny_suite)
    tiny_suite["train"] |= {"shots": None, "fraction": [0.0, 0.5, 1.5]}
    message = _refused(tmp_path, tiny_suite)
    assert "train.fraction.0: Input should be greater than 0 (found 0.0)" in message
    assert "train.fraction.2: Input should be less than or equal to 1 (found 1.5)" in message
    tiny_suite["train"] |= {"fraction": None, "shots": [0, 5]}
    assert "train.shots.0: Input should be greater than or equal to 1" in _refused(
        tmp_path, tiny_suite
    )
    tiny_suite["train"] |= {"shots": [5, 5]}
    assert "train.shots: values must be distinct" in _refused(tmp_path, tiny_suite)
    tiny_suite["train"] |= {"shots": None, "episodes": 3}
    assert "train.episodes: `episodes` resamples" in _refused(tmp_path, tiny_suite)


def test_episodes_not_seeds_and_no_refit_on_validation(tmp_path, tiny_suite):
    tiny_suite["train"] |= {"shots": [1], "episodes": 2}
    tiny_suite["seeds"] = [1, 2]
    assert "seeds: a cell of train.shots" in _refused(tmp_path, tiny_suite)
    tiny_suite["seeds"] = [11]  # one seed: the first episode's
    tiny_suite["tune"] = {"trials": 2, "refit": "train+val"}
    assert "tune.refit: train+val would add the whole validation split" in _refused(
        tmp_path, tiny_suite
    )
    tiny_suite["tune"] = {"trials": 2, "space": {"shots": {"choices": [1, 5]}}}
    assert "cannot tune 'shots'" in _refused(tmp_path, tiny_suite)
