"""Label efficiency in a run: each cell of the ``shots`` axis trains and tests its episodes,
each on its own draw of the training images (tuning on the first), and records their mean,
standard deviation, interval and each episode's values; a budget the data cannot meet fails
before any run is created."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from benchmark import track
from benchmark.checks import load_checked_suite
from benchmark.errors import DataError
from benchmark.leaderboard import format_table, load_board
from benchmark.metrics import get_metric
from benchmark.runner import run_suite
from benchmark.runner._episodes import Episode, summarise_episodes

T_975_2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom


def test_episodes_are_summarised_by_mean_std_and_the_interval_of_the_mean():
    per_episode = [
        {"test/accuracy": a, "test/glioma/f1": a / 2, "test/accuracy_ci_low": a - 0.1,
         "time/train_s": 10.0 * k}
        for k, a in enumerate([0.5, 0.7, 0.6], start=1)
    ]  # fmt: skip
    episodes = [Episode(k, "", "", np.arange(8)) for k in range(3)]
    out = summarise_episodes(episodes, per_episode, level=0.95)
    assert out["test/accuracy"] == pytest.approx(0.6) and out["time/train_s"] == 20.0
    assert out["test/accuracy_std"] == pytest.approx(0.1)
    half = T_975_2 * 0.1 / math.sqrt(3)
    assert out["test/accuracy_episodes_low"] == pytest.approx(0.6 - half)
    assert out["test/accuracy_episodes_high"] == pytest.approx(0.6 + half)
    assert [out[f"episode_{k}/test/accuracy"] for k in (1, 2, 3)] == [0.5, 0.7, 0.6]
    assert out["episode_2/test/glioma/f1"] == 0.35
    # a class's score and a bootstrap bound get no spread of their own
    assert "test/glioma/f1_std" not in out and "test/accuracy_ci_low_std" not in out
    assert out["episodes"] == 3 and out["data/episode_images"] == 8
    for key in out:
        get_metric(key)  # every key is catalogued
    one = summarise_episodes(episodes[:1], per_episode[:1], level=0.95)
    assert one["test/accuracy"] == 0.5 and "test/accuracy_std" not in one


@pytest.fixture
def shots_suite(tiny_suite_file):
    return load_checked_suite(
        tiny_suite_file,
        overrides=[
            "train.shots=[1, 2]",
            "train.episodes=2",
            "tune={trials: 1, space: {}}",
            "train.epochs=1",
            "evaluate={bootstrap: 0, latency: null}",
            "datasets.phantoms.options.per_class=10",
        ],
    )


def test_a_shots_suite_runs_its_episodes_and_tabulates_them(shots_suite, tracking_uri, monkeypatch):
    from benchmark.runner import _cell, _study

    drawn: dict[str, list] = {"final": [], "trial": []}
    for module, kind in ((_cell, "final"), (_study, "trial")):

        def spy(*args, _real=module.fit_cell, _kind=kind, **kwargs):
            drawn[_kind].append(kwargs["train_indices"])
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, "fit_cell", spy)

    outcomes = run_suite(shots_suite, tracking_uri=tracking_uri)
    assert [o.status for o in outcomes] == ["finished", "finished"]
    # each cell: one trial on its first episode's draw, then two episodes, drawn apart
    assert [len(d) for d in drawn["final"]] == [4, 4, 8, 8]  # four classes × shots
    assert np.array_equal(drawn["trial"][0], drawn["final"][0])
    assert not np.array_equal(drawn["final"][0], drawn["final"][1])
    assert set(drawn["final"][0]) <= set(drawn["final"][2])  # 1-shot within 2-shot

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("tiny").experiment_id
    runs = {
        r.info.run_name: r
        for r in client.search_runs([experiment], "tags.`medbench.kind` = 'cell'")
    }
    assert sorted(runs) == ["phantoms/test_resnet/finetune/1-shot",
                            "phantoms/test_resnet/finetune/2-shot"]  # fmt: skip
    for shots in (1, 2):
        run = runs[f"phantoms/test_resnet/finetune/{shots}-shot"]
        tags, metrics = run.data.tags, run.data.metrics
        assert tags["medbench.shots"] == str(shots) and "medbench.fraction" not in tags
        assert metrics["episodes"] == 2 and metrics["data/episode_images"] == 4 * shots
        episodes = [metrics[f"episode_{e}/test/accuracy"] for e in (1, 2)]
        assert metrics["test/accuracy"] == pytest.approx(np.mean(episodes))
        assert metrics["test/accuracy_std"] == pytest.approx(np.std(episodes, ddof=1))
        low, high = metrics["test/accuracy_episodes_low"], metrics["test/accuracy_episodes_high"]
        assert low <= metrics["test/accuracy"] <= high
        assert metrics["data/val_images"] + metrics["data/test_images"] > 4 * shots  # untouched
        logged = track.connect(tracking_uri).artifact_text(run.info.run_id, "data/episodes.csv")
        table = pd.read_csv(io.StringIO(logged))  # each episode's draw, written beside the split
        assert table.groupby("episode").size().to_dict() == {1: 4 * shots, 2: 4 * shots}
        history = client.get_metric_history(run.info.run_id, "episode_2/val/f1_weighted")
        assert [m.step for m in history] == [1]
        for key in metrics:
            get_metric(key)
    trials = client.search_runs([experiment], "tags.`medbench.kind` = 'trial'")
    assert sorted(t.data.tags["medbench.shots"] for t in trials) == ["1", "2"]

    board = load_board(track.connect(tracking_uri), "tiny", table="efficiency")
    assert list(board.frame.columns) == ["dataset", "backbone", "strategy", "1-shot", "2-shot"]
    mean, std = (
        runs["phantoms/test_resnet/finetune/1-shot"].data.metrics["test/accuracy"],
        (runs["phantoms/test_resnet/finetune/1-shot"].data.metrics["test/accuracy_std"]),
    )
    assert board.frame.loc[0, "1-shot"] == f"{mean:.3f} ± {std:.3f}"
    assert "(2 episodes)" in board.notes[0]
    for fmt in ("markdown", "latex", "csv", "json", "html"):
        assert "1-shot" in format_table(board, fmt)


def test_more_shots_than_a_class_has_fails_before_any_run(tiny_suite_file, tracking_uri):
    suite = load_checked_suite(tiny_suite_file, overrides=["train.shots=[2, 40]"])
    with pytest.raises(DataError, match=r"finetune/40-shot: train.shots: 40 images per class, "
                                        r"but class 'glioma' has \d+ training images"):  # fmt: skip
        run_suite(suite, tracking_uri=tracking_uri)
    assert MlflowClient(tracking_uri).get_experiment_by_name("tiny") is None
