"""Golden tests: every leaderboard table in every text format, from a fixture store.

Regenerate after an intended change:
MEDBENCH_UPDATE_GOLDEN=1 python -m pytest tests/leaderboard/test_tables.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.leaderboard import TABLES, best_mask, build_table, format_table
from tests.store_fixture import REFERENCES, SUITE, build_store

GOLDEN = Path(__file__).parents[1] / "golden"
TEXT_FORMATS = ("markdown", "latex", "csv", "json", "html")


@pytest.fixture
def store(tracking_uri):
    build_store(tracking_uri)
    return track.connect(tracking_uri)


@pytest.fixture
def runs(store):
    return store.cell_runs(SUITE)


@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_in_every_format_matches_its_golden_file(runs, table):
    options = {"references": REFERENCES} if table == "compare" else {}
    board = build_table(table, runs, **options)
    text = "".join(f"===== {fmt}\n{format_table(board, fmt)}" for fmt in TEXT_FORMATS) + "".join(
        f"===== note\n{note}\n" for note in board.notes
    )
    golden = GOLDEN / f"{table}.txt"
    if os.environ.get("MEDBENCH_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_best_values_follow_what_each_metric_means(runs):
    summary = build_table("summary", runs)
    best = best_mask(summary).set_index(summary.frame["backbone"] + "/" + summary.frame["dataset"])
    assert best.loc["vgg19/mri", "accuracy"] and not best.loc["resnet50/mri", "accuracy"]
    assert best.loc["resnet50/mri", "params_m"] and best.loc["resnet50/mri", "latency_ms"]
    assert not best.loc["vgg19/lung"].any()  # alone in its dataset: nothing to beat
    latency = build_table("latency", runs)
    assert list(latency.frame["backbone"])[:2] == ["resnet50", "vgg19"]  # fastest first


def test_compare_puts_the_papers_numbers_beside_ours(runs):
    frame = build_table("compare", runs, references=REFERENCES).frame.set_index(
        ["backbone", "metric"]
    )
    assert frame.loc[("resnet50", "accuracy"), "paper"] == 0.987
    assert frame.loc[("resnet50", "accuracy"), "ours"] == pytest.approx(0.925)
    assert frame.loc[("resnet50", "accuracy"), "diff"] == pytest.approx(-0.062)
    assert frame.loc[("resnet50", "params_m"), "ours"] == pytest.approx(23.5)
    assert frame.loc[("vgg19", "train_min"), "ours"] == pytest.approx(30.0)
    missing = frame.loc[("mobilenetv2_100", "accuracy")]
    assert missing["paper"] == 0.9515 and missing["ours"] != missing["ours"]  # NaN: not run


def test_dataset_filter_sort_and_all_runs(store, tracking_uri):
    from tests.cli.test_cli import invoke

    result = invoke("leaderboard", SUITE, "--dataset", "lung", "--format", "csv",
                    "--tracking-uri", tracking_uri)  # fmt: skip
    lines = result.output.splitlines()
    assert len(lines) == 2 and lines[1].startswith("lung,vgg19")
    result = invoke("leaderboard", SUITE, "--table", "cost", "--sort", "train_min",
                    "--format", "csv", "--tracking-uri", tracking_uri)  # fmt: skip
    assert [line.split(",")[1] for line in result.output.splitlines()[1:]] == [
        "resnet50", "vgg19", "vgg19"
    ]  # fmt: skip
    result = invoke("leaderboard", SUITE, "--dataset", "brain", "--tracking-uri", tracking_uri)
    assert result.exit_code == 1 and "no cells of dataset 'brain'" in result.output
    result = invoke("leaderboard", SUITE, "--table", "compare", "--tracking-uri", tracking_uri)
    assert result.exit_code == 1 and "references" in result.output
    # A second finished run of one cell: --latest keeps one row, --all-runs shows both.
    client = MlflowClient(tracking_uri)
    run = client.search_runs([store.experiment_id(SUITE)], "tags.`medbench.kind` = 'cell'")[0]
    again = client.create_run(run.info.experiment_id, tags=run.data.tags)
    client.log_metric(again.info.run_id, "test/accuracy", 0.5)
    client.set_terminated(again.info.run_id, "FINISHED")
    latest = invoke("leaderboard", SUITE, "--format", "csv", "--tracking-uri", tracking_uri)
    every = invoke("leaderboard", SUITE, "--format", "csv", "--all-runs",
                   "--tracking-uri", tracking_uri)  # fmt: skip
    assert len(latest.output.splitlines()) == 4 and len(every.output.splitlines()) == 5
    assert every.output.splitlines()[0].startswith("dataset,backbone,strategy,run,started")


def test_sort_applies_to_every_table_or_says_why_not(runs):
    from benchmark.errors import MedbenchError

    explain = build_table("explain", runs, sort="pointing_game").frame
    assert explain["pointing_game"].is_monotonic_decreasing
    classes = build_table("classes", runs, sort="f1").frame
    assert classes["f1"].dropna().is_monotonic_decreasing
    with pytest.raises(MedbenchError, match="compare table by 'paper': expected nothing"):
        build_table("compare", runs, references=REFERENCES, sort="paper")
