"""The external table: each trained-on cell's test score beside its score, interval and drop
on each dataset the suite tests on only; the report's heatmap of the same."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.leaderboard import (
    FORMATS,
    build_table,
    external_figure,
    external_points,
    format_table,
    load_board,
)
from tests.store_fixture import EVALUATE_SUITE, SUITE, build_evaluate_store, build_store


@pytest.fixture
def store(tracking_uri):
    build_evaluate_store(tracking_uri)
    return track.connect(tracking_uri)


def test_each_external_score_lands_in_its_cells_row(store):
    board = load_board(store, EVALUATE_SUITE, table="external")
    frame = board.frame.set_index(board.frame["dataset"] + "/" + board.frame["backbone"])
    assert list(frame.index) == ["brain/resnet", "brain/vit", "chest/resnet"]  # mobilenet: none
    assert list(frame.columns) == [
        "dataset", "backbone", "strategy", "score", "internal", "yes_no", "yes_no_ci",
        "yes_no_drop", "figshare", "figshare_drop", "chest_ext", "chest_ext_drop",
    ]  # fmt: skip
    assert frame.loc["brain/resnet", "score"] == "f1_weighted"
    assert frame.loc["brain/resnet", "internal"] == pytest.approx(0.90)
    assert frame.loc["brain/resnet", "yes_no"] == pytest.approx(0.80)
    assert frame.loc["brain/resnet", "yes_no_ci"] == "[0.760, 0.830]"
    assert frame.loc["brain/resnet", "yes_no_drop"] == pytest.approx(0.10)  # the logged drop
    assert frame.loc["brain/resnet", "figshare_drop"] == pytest.approx(0.20)  # internal − ext
    assert math.isnan(frame.loc["brain/vit", "figshare"])  # not tested there: a dash
    assert frame.loc["brain/vit", "yes_no_drop"] == pytest.approx(0.03)
    # the binary cell's external evaluation gives auroc, not auroc_macro: its headline score
    assert frame.loc["chest/resnet", "score"] == "auroc"
    assert frame.loc["chest/resnet", "internal"] == pytest.approx(0.95)
    assert frame.loc["chest/resnet", "chest_ext_drop"] == pytest.approx(0.20)
    assert frame.loc["chest/resnet", "yes_no_ci"] == "–"
    assert any("internal − external" in note for note in board.notes)


def test_best_is_marked_within_the_trained_on_dataset(store):
    board = load_board(store, EVALUATE_SUITE, table="external")
    markdown = format_table(board, "markdown")
    assert "**0.820**" in markdown and "**0.030**" in markdown  # higher score, smaller drop
    assert "**0.750**" not in markdown  # alone in its dataset: nothing to beat
    ranked = build_table("external", store.cell_runs(EVALUATE_SUITE), sort="yes_no_drop")
    assert list(ranked.frame["backbone"])[:2] == ["vit", "resnet"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_prints_it_in_every_format(store, tracking_uri, fmt):
    result = CliRunner().invoke(
        app, ["leaderboard", EVALUATE_SUITE, "--table", "external", "--format", fmt,
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "figshare" in result.output and "0.760, 0.830" in result.output
    board = load_board(store, EVALUATE_SUITE, table="external")
    if fmt != "table":
        assert result.output == format_table(board, fmt)
    if fmt == "json":
        records = json.loads(result.output)
        assert records[0]["yes_no_ci"] == "[0.760, 0.830]"


def test_a_suite_without_external_datasets_gives_an_empty_table_that_says_why(tracking_uri):
    build_store(tracking_uri)
    board = build_table("external", track.connect(tracking_uri).cell_runs(SUITE))
    assert board.frame.empty and list(board.frame.columns) == ["dataset", "backbone", "strategy"]
    assert board.notes and "evaluate.external" in board.notes[0]
    for fmt in FORMATS:
        assert format_table(board, "markdown" if fmt == "table" else fmt)
    assert external_figure(track.connect(tracking_uri).cell_runs(SUITE)) is None


def test_the_heatmap_has_a_square_per_cell_and_dataset(store):
    runs = store.cell_runs(EVALUATE_SUITE)
    points = external_points(runs)
    assert len(points) == 4  # resnet: 2, vit: 1, chest: 1
    assert set(points["external"]) == {"yes_no", "figshare", "chest_ext"}
    figure = external_figure(runs)
    image = figure.axes[0].get_images()[0].get_array()
    assert image.shape == (3, 4)  # cells × (test, 3 external datasets)
    assert image.mask.sum() == 12 - 3 - 4  # untested squares are blank
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "0.800\n−0.100" in texts and "0.950" in texts
    assert isinstance(points, pd.DataFrame)
