from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from benchmark.errors import MedbenchError
from benchmark.leaderboard import build_table, format_table

RUNS = pd.DataFrame(
    {
        "tags.medbench.dataset": ["d", "d", "d"],
        "tags.medbench.backbone": ["small", "big", "mid"],
        "tags.medbench.strategy": ["finetune"] * 3,
        "metrics.test/accuracy": [0.70, 0.90, 0.80],
        "metrics.test/f1_weighted": [0.69, 0.88, 0.85],
        "metrics.test/f1_macro": [0.68, 0.87, 0.84],
        "metrics.params/total": [1_000_000, 25_000_000, 5_000_000],
        "metrics.time/train_s": [10.0, 100.0, 30.0],
    }
)


def summary(runs, **options):
    return build_table("summary", runs, **options).frame


def test_summary_is_best_first_with_readable_units():
    table = summary(RUNS)
    assert list(table["backbone"]) == ["big", "mid", "small"]
    assert table.loc[0, "params_m"] == pytest.approx(25.0)
    assert list(summary(RUNS, sort="test/f1_macro")["backbone"]) == [
        "big",
        "mid",
        "small",
    ]
    assert list(summary(RUNS, sort="train_s")["backbone"]) == [
        "small",
        "mid",
        "big",
    ]
    with pytest.raises(MedbenchError, match="cannot sort the summary table by 'speed'"):
        summary(RUNS, sort="speed")


def test_missing_metrics_show_as_a_dash_not_a_crash():
    table = summary(RUNS.drop(columns=["metrics.time/train_s"]))
    assert table["train_s"].isna().all()
    assert format_table(table, "markdown").splitlines()[2].rstrip(" |").endswith("–")


def test_formats():
    table = summary(RUNS)
    markdown = format_table(table, "markdown").splitlines()
    assert markdown[0].split("|")[1].strip() == "dataset" and "0.9000" in markdown[2]
    csv = format_table(table, "csv").splitlines()
    assert (
        csv[0] == "dataset,backbone,strategy,accuracy,f1_weighted,f1_macro,auroc,params_m,train_s"
    )
    assert len(csv) == 4
    records = json.loads(format_table(table, "json"))
    assert records[0]["backbone"] == "big" and math.isclose(records[0]["accuracy"], 0.9)
    with pytest.raises(MedbenchError, match="unknown format"):
        format_table(table, "xml")


def test_optional_columns_appear_only_when_recorded():
    assert "trials" not in summary(RUNS) and "accuracy_std" not in summary(RUNS)
    tuned = RUNS.assign(
        **{"metrics.tune/trials": [4.0, 3.0, 4.0], "metrics.test/accuracy_std": 0.01}
    )
    table = summary(tuned)
    assert list(table["trials"]) == [3.0, 4.0, 4.0]
    assert (
        format_table(table, "csv")
        .splitlines()[0]
        .endswith("accuracy_std,f1_weighted,f1_macro,auroc,params_m,train_s,trials")
    )
    assert format_table(table, "markdown").splitlines()[2].endswith(" 3 |")  # counts, no decimals


def test_cells_not_significantly_worse_than_the_best_are_marked():
    runs = RUNS.assign(**{"tags.medbench.cell": ["d/small/f", "d/big/f", "d/mid/f"]})
    paired = {
        "d": {
            "best": "d/big/f",
            "cells": {
                "d/big/f": {"not_worse_than_best": True},
                "d/mid/f": {"not_worse_than_best": True},
                "d/small/f": {"not_worse_than_best": False},
            },
        }
    }
    table = summary(runs, paired=paired)
    marks = dict(zip(table["backbone"], table["≈best"], strict=True))
    assert marks == {"big": "✓", "mid": "✓", "small": ""}
    assert "≈best" not in summary(runs)


def test_the_command_lines_names_are_the_tables_and_formats_built():
    from typing import get_args

    from benchmark.leaderboard import TABLES, TableFormat, TableName
    from benchmark.leaderboard._render import format_table as render

    assert list(TABLES) == list(get_args(TableName))
    board = build_table("summary", RUNS)
    for fmt in get_args(TableFormat):
        assert render(board, "markdown" if fmt == "table" else fmt)


def test_the_tables_help_lists_every_table():
    import click
    import typer.main

    from benchmark.cli import app
    from benchmark.leaderboard import TABLES

    command = typer.main.get_command(app).commands["leaderboard"]  # type: ignore[attr-defined]
    option = next(p for p in command.params if "--table" in p.opts)
    record = option.get_help_record(click.Context(command))
    assert record is not None and "<" + "|".join(TABLES) + ">" in record[0]
