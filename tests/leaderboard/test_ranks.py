"""The ranks table: each backbone × strategy across a suite's datasets (mean rank, wins,
mean scores beside the published averages, significant wins over each other row)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from typer.testing import CliRunner

from benchmark import track
from benchmark.cli import app
from benchmark.leaderboard import FORMATS, format_table, load_board, ranks_figure
from benchmark.report import write_report
from benchmark.suite._schema import References

SUITE = "across"
# dataset: (task, {backbone/strategy: its ranking score}); the binary dataset ranks by AUROC
SCORES = {
    "blood": ("multiclass", {"resnet18/finetune": 0.90, "vit/finetune": 0.80, "vit/probe": 0.70}),
    "pneumonia": ("binary", {"resnet18/finetune": 0.70, "vit/finetune": 0.95, "vit/probe": 0.80}),
    "retina": ("ordinal", {"resnet18/finetune": 0.50, "vit/finetune": 0.50}),
}
# the summary's Holm-adjusted p-values on blood (McNemar) and pneumonia (DeLong)
PVALUES = {
    "blood": {("resnet18/finetune", "vit/finetune"): 0.01,
              ("resnet18/finetune", "vit/probe"): 0.001, ("vit/finetune", "vit/probe"): 0.3},
    "pneumonia": {("resnet18/finetune", "vit/finetune"): 0.02,
                  ("resnet18/finetune", "vit/probe"): 0.6, ("vit/finetune", "vit/probe"): 0.04},
}  # fmt: skip
REFERENCES = References.model_validate(
    {
        "source": "MedMNIST+, BENCHMARK.md, Average",
        "rows": [
            {"backbone": "resnet18", "strategy": "finetune", "note": "average, 28 px",
             "accuracy": 0.7966, "auroc": 0.9092, "size": 28},
            {"backbone": "resnet18", "strategy": "finetune", "note": "average over 12 datasets",
             "accuracy": 0.8622, "auroc": 0.9451, "size": 224},
            {"backbone": "vit", "accuracy": 0.8606, "auroc": 0.9408},  # any strategy
            {"backbone": "vit", "strategy": "probe", "accuracy": 0.61},  # the more specific
            {"dataset": "blood", "backbone": "vit", "accuracy": 0.1},  # not an average
        ],
    }
)  # fmt: skip


def build_ranks_store(uri: str) -> None:
    """The cells of ``SCORES`` at 224 px and the summary run's paired tests of them."""
    client = MlflowClient(uri)
    experiment = client.create_experiment(SUITE)
    for dataset, (task, scores) in SCORES.items():
        for key, score in scores.items():
            backbone, strategy = key.split("/")
            cell = f"{dataset}/{key}"
            tags = {"medbench.suite": SUITE, "medbench.cell": cell, "medbench.dataset": dataset,
                    "medbench.backbone": backbone, "medbench.strategy": strategy,
                    "medbench.task": task, "medbench.kind": "cell",
                    "medbench.config_hash": cell,
                    "medbench.commercial": "no" if dataset == "blood" else "yes"}  # fmt: skip
            run = client.create_run(experiment, tags=tags, run_name=cell)
            ranking = "test/auroc_macro" if task == "binary" else "test/f1_weighted"
            metrics = {"test/accuracy": score - 0.05, "test/auroc_macro": score + 0.02,
                       "test/f1_weighted": score - 0.1, ranking: score}  # fmt: skip
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
                params=[Param("data.options.size", "224")],
            )
            client.set_terminated(run.info.run_id, "FINISHED")
    summary = client.create_run(
        experiment, tags={"medbench.kind": "suite", "medbench.suite": SUITE}, run_name="summary"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, pairs in PVALUES.items():
            task, scores = SCORES[dataset]
            cells = [f"{dataset}/{key}" for key in scores]
            matrix = pd.DataFrame(1.0, index=cells, columns=cells)
            for (a, b), p in pairs.items():
                matrix.loc[f"{dataset}/{a}", f"{dataset}/{b}"] = p
                matrix.loc[f"{dataset}/{b}", f"{dataset}/{a}"] = p
            metric = "test/auroc_macro" if task == "binary" else "test/accuracy"
            name = metric.removeprefix("test/")
            folder = Path(tmp) / "analysis" / dataset
            folder.mkdir(parents=True)
            test = "auroc" if task == "binary" else "mcnemar"
            (folder / f"{test}_holm_p.csv").write_text(matrix.to_csv())
            best = max(scores.values())
            shown = {f"{dataset}/{k}": {name: v, "not_worse_than_best": v == best}
                     for k, v in scores.items()}  # fmt: skip
            (folder / "paired_tests.json").write_text(
                json.dumps({"alpha": 0.05, "metric": metric, "cells": shown})
            )
        client.log_artifacts(summary.info.run_id, tmp)
    client.set_terminated(summary.info.run_id, "FINISHED")


@pytest.fixture
def store(tracking_uri):
    build_ranks_store(tracking_uri)
    return track.connect(tracking_uri)


def test_mean_ranks_wins_and_means_over_the_datasets(store):
    board = load_board(store, SUITE, table="ranks")
    frame = board.frame.set_index(board.frame["backbone"] + "/" + board.frame["strategy"])
    # blood by F1: resnet 1, vit 2, probe 3; pneumonia by AUROC: vit 1, probe 2, resnet 3;
    # retina by F1: resnet and vit tie at 1.5, both winning
    assert frame["mean_rank"].to_dict() == pytest.approx(
        {"resnet18/finetune": 5.5 / 3, "vit/finetune": 4.5 / 3, "vit/probe": 2.5}
    )
    assert frame["wins"].to_dict() == {"resnet18/finetune": 2, "vit/finetune": 2, "vit/probe": 0}
    assert list(frame["datasets"]) == [3, 3, 2]
    assert list(board.frame["#"]) == ["1", "2", "3"]  # best mean rank first
    assert frame.loc["vit/finetune", "accuracy"] == pytest.approx((0.75 + 0.90 + 0.45) / 3)
    assert frame.loc["vit/probe", "auroc"] == pytest.approx((0.72 + 0.80) / 2)
    assert any("not alike" in note for note in board.notes)  # vit/probe ran on two
    assert any("not for commercial use: ['blood']" in note for note in board.notes)


def test_how_often_each_row_is_significantly_better_than_each_other(store):
    frame = load_board(store, SUITE, table="ranks").frame
    frame = frame.set_index(frame["backbone"] + "/" + frame["strategy"])
    number = {key: f"#{n}" for key, n in frame["#"].items()}
    better = {(a, b): frame.loc[a, number[b]] for a in frame.index for b in frame.index if a != b}
    assert better == {
        ("resnet18/finetune", "vit/finetune"): 1,  # blood
        ("resnet18/finetune", "vit/probe"): 1,  # blood (not pneumonia: p 0.6)
        ("vit/finetune", "resnet18/finetune"): 1,  # pneumonia
        ("vit/finetune", "vit/probe"): 1,  # pneumonia (not blood: p 0.3)
        ("vit/probe", "resnet18/finetune"): 0,  # its higher AUROC is not significant
        ("vit/probe", "vit/finetune"): 0,
    }
    assert all(pd.isna(frame.loc[key, n]) for key, n in number.items())  # the diagonal


def test_published_averages_sit_beside_their_rows(store):
    frame = load_board(store, SUITE, table="ranks", references=REFERENCES).frame
    frame = frame.set_index(frame["backbone"] + "/" + frame["strategy"])
    assert frame.loc["resnet18/finetune", "paper_accuracy"] == 0.8622  # the 224 px row
    assert frame.loc["resnet18/finetune", "paper_note"] == "average over 12 datasets"
    assert frame.loc["vit/finetune", "paper_auroc"] == 0.9408  # a row of any strategy
    assert frame.loc["vit/probe", "paper_accuracy"] == 0.61  # the row naming it wins
    assert pd.isna(frame.loc["vit/probe", "paper_auroc"])
    without = load_board(store, SUITE, table="ranks").frame
    assert not any(c.startswith("paper_") for c in without)


def test_without_a_summary_run_the_matrix_is_left_out(tracking_uri):
    build_ranks_store(tracking_uri)
    store = track.connect(tracking_uri)
    client = MlflowClient(tracking_uri)
    client.delete_run(store.summary_run(SUITE))
    board = load_board(store, SUITE, table="ranks")
    assert "#1" not in board.frame and any("#k columns need" in n for n in board.notes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_prints_it_in_every_format(store, tracking_uri, fmt):
    result = CliRunner().invoke(
        app, ["leaderboard", SUITE, "--table", "ranks", "--format", fmt,
              "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "resnet18" in result.output and "mean" in result.output
    if fmt in ("csv", "json", "markdown", "html", "latex"):
        board = load_board(store, SUITE, table="ranks")
        assert result.output == format_table(board, fmt)


def test_the_report_draws_the_ranks_and_the_matrix(store, tmp_path):
    written = write_report(store, SUITE, out=tmp_path / "report", references=REFERENCES)
    page = written.page.read_text()
    assert 'data-table="ranks"' in page and "<h2>ranks</h2>" in page
    assert (tmp_path / "report" / "figures" / "ranks.png").exists()
    assert '<img alt="ranks" src="data:image/png;base64,' in page  # embedded, no server
    figure = ranks_figure(load_board(store, SUITE, table="ranks"))
    assert len(figure.axes) == 2  # the bars and the heatmap
    assert ranks_figure(load_board(store, SUITE, table="ranks", dataset="blood")) is None


def test_cells_at_several_medmnist_sizes_are_ranked_among_their_size(store, tracking_uri):
    """Every run (``latest=False``) holds the blood cells again at 28 px: each size is its
    own row, ranked among its size's cells, beside that size's published average."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(SUITE).experiment_id
    for key, score in {"resnet18/finetune": 0.6, "vit/finetune": 0.7}.items():
        backbone, strategy = key.split("/")
        tags = {"medbench.suite": SUITE, "medbench.cell": f"blood/{key}",
                "medbench.dataset": "blood", "medbench.backbone": backbone,
                "medbench.strategy": strategy, "medbench.task": "multiclass",
                "medbench.kind": "cell", "medbench.config_hash": f"blood/{key}@28"}  # fmt: skip
        run = client.create_run(experiment, tags=tags, run_name=f"blood/{key}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("test/f1_weighted", score, 1_700_000_000_000, 0)],
            params=[Param("data.options.size", "28")],
        )
        client.set_terminated(run.info.run_id, "FINISHED")
    frame = load_board(store, SUITE, table="ranks", latest=False, references=REFERENCES).frame
    frame = frame.set_index(frame["backbone"] + "/" + frame["strategy"] + "@" + frame["size"])
    assert frame.loc["vit/finetune@28", "mean_rank"] == 1.0  # first among the 28 px cells
    assert frame.loc["resnet18/finetune@28", "mean_rank"] == 2.0
    assert frame.loc["resnet18/finetune@224", "mean_rank"] == pytest.approx(5.5 / 3)  # as before
    assert frame.loc["resnet18/finetune@28", "paper_accuracy"] == 0.7966  # its size's average
    assert frame.loc["resnet18/finetune@224", "paper_accuracy"] == 0.8622
