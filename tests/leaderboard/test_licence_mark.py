"""The summary marks datasets whose licence rules out commercial use, with a footnote."""

from __future__ import annotations

import pandas as pd

from benchmark.leaderboard import build_table, format_table

RUNS = pd.DataFrame(
    {
        "tags.medbench.dataset": ["derma", "derma", "path"],
        "tags.medbench.backbone": ["a", "b", "a"],
        "tags.medbench.strategy": ["finetune"] * 3,
        "tags.medbench.commercial": ["no", "no", "yes"],
        "tags.medbench.licence": ["CC BY-NC 4.0", "CC BY-NC 4.0", "CC BY 4.0"],
        "metrics.test/accuracy": [0.7, 0.8, 0.9],
        "metrics.test/f1_weighted": [0.7, 0.8, 0.9],
        "metrics.test/f1_macro": [0.7, 0.8, 0.9],
        "metrics.params/total": [1e6, 2e6, 1e6],
        "metrics.time/train_s": [1.0, 2.0, 1.0],
    }
)


def test_non_commercial_datasets_are_marked_and_footnoted():
    board = build_table("summary", RUNS)
    assert sorted(board.frame["dataset"]) == ["derma †", "derma †", "path"]
    assert board.notes == ["† not for commercial use under its licence: derma (CC BY-NC 4.0)"]
    markdown = format_table(board, "markdown")
    assert "**0.8000**" in markdown  # the best within derma still marked


def test_runs_without_the_tag_are_unmarked():
    board = build_table("summary", RUNS.drop(columns=["tags.medbench.commercial"]))
    assert "†" not in "".join(board.frame["dataset"]) and board.notes == []
