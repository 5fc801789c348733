"""Published numbers matched with cell runs: a row per cell, narrowed by the settings it
holds for (``where``), or a mean over datasets beside ours (MedMNIST+'s averages)."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from benchmark.leaderboard import build_table, dataset_average, matching_runs
from benchmark.suite._schema import ReferenceRow, References
from benchmark.track import metric_column, tag_column


def _runs(size: int = 28) -> pd.DataFrame:
    """Two backbones on three datasets at one MedMNIST size (two runs of one cell)."""
    rows = []
    for backbone, base in (("vgg16", 0.80), ("resnet18", 0.70)):
        for k, dataset in enumerate(("pathmnist", "chestmnist", "bloodmnist")):
            rows.append({
                tag_column("dataset"): dataset, tag_column("backbone"): backbone,
                tag_column("strategy"): "finetune", "params.data.options.size": str(size),
                metric_column("test/accuracy"): base + 0.03 * k,
                metric_column("test/auroc_macro"): base + 0.1,
            })  # fmt: skip
    rows.append(dict(rows[0], **{metric_column("test/accuracy"): 0.90}))  # pathmnist again
    return pd.DataFrame(rows)


REFS = References.model_validate({
    "source": "MedMNIST+ (test)",
    "rows": [
        {"average": "datasets", "backbone": "vgg16", "strategy": "finetune",
         "where": {"data.options.size": 28}, "accuracy": 0.8234, "auroc": 0.9266},
        {"average": "datasets", "backbone": "vgg16", "strategy": "finetune",
         "where": {"data.options.size": 224}, "accuracy": 0.8670, "auroc": 0.9530},
        {"average": "datasets", "backbone": "alexnet", "strategy": "finetune",
         "where": {"data.options.size": 28}, "accuracy": 0.7892, "note": "not in timm"},
        {"dataset": "pathmnist", "backbone": "resnet18", "accuracy": 0.9},
    ],
})  # fmt: skip


def test_a_mean_over_datasets_is_one_row_beside_our_mean_at_the_same_size():
    frame = build_table("compare", _runs(28), references=REFS).frame
    vgg = frame[frame["backbone"] == "vgg16"].set_index("metric")
    assert list(vgg.index) == ["accuracy", "auroc"]  # the 224 px row is left out
    # pathmnist's two runs first (0.80, 0.90 → 0.85), then over datasets
    assert vgg.loc["accuracy", "ours"] == pytest.approx((0.85 + 0.83 + 0.86) / 3)
    assert vgg.loc["accuracy", "dataset"] == "mean of 3 datasets"
    assert vgg.loc["auroc", "diff"] == pytest.approx(0.90 - 0.9266)
    alexnet = frame[frame["backbone"] == "alexnet"].iloc[0]
    assert alexnet["paper"] == 0.7892 and alexnet["ours"] != alexnet["ours"]  # not run: NaN
    assert alexnet["dataset"] == "mean of datasets" and alexnet["note"] == "not in timm"
    single = frame[frame["backbone"] == "resnet18"].iloc[0]
    assert single["dataset"] == "pathmnist" and single["ours"] == pytest.approx(0.70)
    at_224 = build_table("compare", _runs(224), references=REFS).frame
    assert at_224[at_224["backbone"] == "vgg16"]["paper"].tolist() == [0.8670, 0.9530]


def test_matching_runs_and_the_dataset_average():
    runs = _runs()
    assert len(matching_runs(runs, REFS.rows[0])) == 4  # vgg16 at 28 px, every dataset
    assert matching_runs(runs, REFS.rows[1]).empty
    unknown = ReferenceRow(where={"train.nothing": 1}, accuracy=0.5)
    assert matching_runs(runs, unknown).empty
    mean, n = dataset_average(matching_runs(runs, REFS.rows[0]), metric_column("test/accuracy"))
    assert n == 3 and mean == pytest.approx(0.8466667)
    assert dataset_average(runs, "metrics.nothing")[1] == 0


def test_an_average_over_datasets_names_no_dataset():
    with pytest.raises(ValidationError, match="names no dataset"):
        ReferenceRow(average="datasets", dataset="pathmnist", accuracy=0.5)
    with pytest.raises(ValidationError, match="must be a number"):
        ReferenceRow(backbone="vgg16", size="28")


def test_the_ranks_table_sets_the_average_of_its_size_beside_each_row():
    ranks = build_table("ranks", _runs(224), references=REFS).frame.set_index("backbone")
    assert ranks.loc["vgg16", "paper_accuracy"] == 0.8670  # the 224 px row, not the 28 px one
    assert ranks.loc["vgg16", "paper_auroc"] == 0.9530
    assert ranks.loc["resnet18", "paper_accuracy"] != ranks.loc["resnet18", "paper_accuracy"]


def test_a_size_value_is_the_shorthand_of_where_the_size_is():
    refs = References.model_validate({"source": "s", "rows": [
        {"average": "datasets", "backbone": "vgg16", "size": 28, "accuracy": 0.8},
        {"average": "datasets", "backbone": "vgg16", "size": 64, "accuracy": 0.9},
    ]})  # fmt: skip
    frame = build_table("compare", _runs(28), references=refs).frame
    assert frame["paper"].tolist() == [0.8] and frame["metric"].tolist() == ["accuracy"]
