"""The robustness table: each cell's balanced error clean, under the corruptions and per
corruption, with MedMNIST-C's BE and rBE; the report's curves of the score against the
severity."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.leaderboard import (
    FORMATS,
    build_table,
    format_table,
    load_board,
    robustness_figure,
    robustness_points,
)
from tests.store_fixture import (
    EVALUATE_SUITE,
    KINDS,
    SEVERITIES,
    SUITE,
    build_evaluate_store,
    build_store,
)


@pytest.fixture
def store(tracking_uri):
    build_evaluate_store(tracking_uri)
    return track.connect(tracking_uri)


def test_each_balanced_error_lands_in_its_cells_row(store):
    board = load_board(store, EVALUATE_SUITE, table="robustness")
    frame = board.frame.set_index(board.frame["dataset"] + "/" + board.frame["backbone"])
    assert list(frame.index) == ["brain/resnet", "brain/vit", "chest/resnet"]  # mobilenet: none
    assert list(frame.columns) == ["dataset", "backbone", "strategy", "clean", "corrupted",
                                   "BE", "rBE", *KINDS]  # fmt: skip
    # brain/resnet: clean 0.10, each severity s adds 0.05 · s · (k + 1) for the k-th kind
    assert frame.loc["brain/resnet", "clean"] == pytest.approx(0.10)
    assert frame.loc["brain/resnet", "gaussian_noise"] == pytest.approx(0.10 + 0.05 * 2)
    assert frame.loc["brain/resnet", "contrast_down"] == pytest.approx(0.10 + 0.10 * 2)
    assert frame.loc["brain/resnet", "corrupted"] == pytest.approx(0.25)
    assert frame.loc["brain/resnet", "BE"] == 1.0 and frame.loc["brain/vit", "rBE"] == 0.4
    assert math.isnan(frame.loc["chest/resnet", "BE"])  # the summary step wrote none
    assert any("MedMNIST-C" in note for note in board.notes)


def test_lower_errors_are_best_and_the_table_sorts_by_them(store):
    board = load_board(store, EVALUATE_SUITE, table="robustness")
    markdown = format_table(board, "markdown")
    assert "**0.500**" in markdown and "**0.210**" in markdown  # vit's BE and corrupted error
    assert "**0.100**" in markdown  # resnet's clean error
    ranked = load_board(store, EVALUATE_SUITE, table="robustness", sort="corrupt/be")
    assert list(ranked.frame["backbone"]) == ["vit", "resnet", "resnet"]


def test_without_be_and_rbe_their_columns_are_left_out(store):
    runs = store.cell_runs(EVALUATE_SUITE)
    runs = runs.drop(columns=["metrics.corrupt/be", "metrics.corrupt/rbe"])
    board = build_table("robustness", runs)
    assert "BE" not in board.frame and "rBE" not in board.frame
    assert not any("MedMNIST-C" in note for note in board.notes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_prints_it_in_every_format(store, tracking_uri, fmt):
    result = CliRunner().invoke(
        app, ["leaderboard", EVALUATE_SUITE, "--table", "robustness", "--format", fmt,
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rBE" in result.output and "0.25" in result.output
    if fmt != "table":
        board = load_board(store, EVALUATE_SUITE, table="robustness")
        assert result.output == format_table(board, fmt)


def test_a_suite_without_corruptions_gives_an_empty_table_that_says_why(tracking_uri):
    build_store(tracking_uri)
    runs = track.connect(tracking_uri).cell_runs(SUITE)
    board = build_table("robustness", runs)
    assert board.frame.empty and list(board.frame.columns) == ["dataset", "backbone", "strategy"]
    assert board.notes and "evaluate.corruptions" in board.notes[0]
    for fmt in FORMATS:
        assert format_table(board, "markdown" if fmt == "table" else fmt)
    assert robustness_figure(runs) is None


def test_the_curves_start_at_the_clean_score_and_follow_the_tasks_score(store):
    runs = store.cell_runs(EVALUATE_SUITE)
    points = robustness_points(runs)
    resnet = points[(points["cell"] == "brain/resnet/finetune")
                    & (points["kind"] == "gaussian_noise")].sort_values("severity")  # fmt: skip
    assert list(resnet["severity"]) == [0, *SEVERITIES]
    assert list(resnet["value"]) == pytest.approx([0.90, 0.85, 0.80, 0.75])  # 0: the test F1
    assert set(resnet["score"]) == {"f1_weighted"}
    # the binary cell's corruptions did not measure its ranking score: accuracy instead
    chest = points[points["dataset"] == "chest"]
    assert set(chest["score"]) == {"accuracy"}
    assert chest[chest["severity"] == 0]["value"].iloc[0] == pytest.approx(0.93)
    figure = robustness_figure(runs)
    assert len(figure.axes) == 2 * len(KINDS)  # a row per dataset, a column per kind
    assert [len(ax.lines) for ax in figure.axes] == [2, 2, 1, 1]  # brain: 2 cells, chest: 1
