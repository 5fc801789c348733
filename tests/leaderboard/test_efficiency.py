"""The efficiency table: the main metric against the label budget, a row per dataset ×
backbone × strategy and a column per budget, mean ± std across episodes, in every format."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark import track
from benchmark.leaderboard import build_table, efficiency_points, format_table
from tests.store_fixture import EFFICIENCY_SUITE, build_efficiency_store


@pytest.fixture
def runs(tracking_uri):
    build_efficiency_store(tracking_uri)
    return track.connect(tracking_uri).cell_runs(EFFICIENCY_SUITE)


def test_rows_are_backbone_and_strategy_columns_the_budgets(runs):
    board = build_table("efficiency", runs)
    frame = board.frame.set_index(["backbone", "strategy"])
    assert list(frame.columns) == ["dataset", "1-shot", "5-shot", "25-shot", "all"]
    assert frame.loc[("vit", "knn"), "1-shot"] == "0.450 ± 0.050"
    assert frame.loc[("resnet", "knn"), "25-shot"] == "0.820 ± 0.020"
    assert frame.loc[("resnet", "finetune"), "all"] == "0.930"
    assert pd.isna(frame.loc[("resnet", "finetune"), "5-shot"])
    assert "(3 episodes)" in board.notes[0]


def test_the_efficiency_table_renders_in_every_format(runs):
    board = build_table("efficiency", runs)
    markdown = format_table(board, "markdown")
    assert "| 0.450 ± 0.050 |" in markdown and "–" in markdown
    assert r"0.450 $\pm$ 0.050" in format_table(board, "latex")
    assert format_table(board, "csv").splitlines()[0] == (
        "dataset,backbone,strategy,1-shot,5-shot,25-shot,all"
    )
    records = json.loads(format_table(board, "json"))
    assert {r["backbone"] + "/" + r["strategy"]: r["5-shot"] for r in records}["vit/knn"] == (
        "0.720 ± 0.020"
    )
    assert 'data-table="efficiency"' in format_table(board, "html")


def test_the_points_carry_the_interval_of_each_mean(runs):
    points = efficiency_points(runs).set_index(["backbone", "strategy", "budget"])
    point = points.loc[("vit", "knn", 5.0)]
    assert point["axis"] == "shots" and point["episodes"] == 3
    assert point["low"] == pytest.approx(0.72 - 0.04) and point["high"] == pytest.approx(0.76)


def test_other_tables_tell_the_budgets_apart(runs):
    summary = build_table("summary", runs).frame
    assert sorted(summary["shots"].dropna()) == ["1", "1", "25", "25", "5", "5"]
