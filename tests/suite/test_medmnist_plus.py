"""``suites/medmnist_plus.yaml``: MedMNIST+'s grid (12 datasets × 9 timm backbones × 3
schemes, three seeds), its training settings, one override for the size of every dataset,
and its published averages for each backbone × scheme × size."""

from __future__ import annotations

import pytest

from benchmark.suite import expand_cells, load_suite
from tests.conftest import ROOT

SUITE = ROOT / "suites" / "medmnist_plus.yaml"
FLAGS = ["bloodmnist", "breastmnist", "chestmnist", "dermamnist", "octmnist", "organamnist",
         "organcmnist", "organsmnist", "pathmnist", "pneumoniamnist", "retinamnist",
         "tissuemnist"]  # fmt: skip
SIZES = (28, 64, 128, 224)


def test_the_suite_is_medmnist_plus_grid_with_its_settings():
    suite = load_suite(SUITE)
    assert sorted(suite.datasets) == FLAGS
    for flag, data in suite.datasets.items():
        assert data.layout == "medmnist" and data.options == {"flag": flag, "size": 28}
        assert str(data.root).endswith("medmnist")
        assert data.preprocess == [{"pad": {"size": 224, "fill": "mean"}}]
    assert suite.datasets["chestmnist"].task.kind == "multilabel"
    assert suite.datasets["retinamnist"].task.kind == "ordinal"
    assert len(suite.backbones) == 9 and "alexnet" not in [b.name for b in suite.backbones]
    assert suite.seeds == [9930641, 115149041, 252139603]
    train = suite.train
    assert (train.epochs, train.batch_size, train.optimizer, train.lr) == (100, 64, "adamw", 1e-4)
    assert train.schedule.kind == "cosine" and train.augment is None
    assert train.early_stopping.monitor == "val/loss" and train.early_stopping.patience == 5
    assert train.image_size == 224
    assert suite.strategies["knn"].options == {"k": 11, "metric": "euclidean", "centre": False,
                                               "normalize": False}  # fmt: skip
    assert len(expand_cells(suite)) == 12 * 9 * 3


def test_one_override_sets_the_size_of_every_dataset():
    suite = load_suite(SUITE, overrides=["datasets.*.options.size=224"])
    assert {data.options["size"] for data in suite.datasets.values()} == {224}
    assert {cell.data.options["size"] for cell in expand_cells(suite)} == {224}


def test_every_backbone_and_scheme_has_its_published_average_at_every_size():
    suite = load_suite(SUITE)
    rows = [r for r in suite.references.rows if r.average == "datasets"]
    names = [b.name for b in suite.backbones] + ["alexnet"]
    found = {(r.backbone, r.strategy, r.where["data.options.size"]) for r in rows}
    assert found == {(b, s, size) for b in names for s in suite.strategies for size in SIZES}
    assert all(r.average == "datasets" and r.dataset is None for r in rows)
    assert all(set(r.values) == ({"accuracy"} if r.strategy == "knn" else {"accuracy", "auroc"})
               for r in rows)  # fmt: skip

    def row(backbone: str, strategy: str, size: int) -> dict[str, float]:
        return next(
            r.values for r in rows
            if (r.backbone, r.strategy, r.where["data.options.size"]) == (backbone, strategy, size)
        )  # fmt: skip

    # the figures, checked against BENCHMARK.md's Average table
    assert row("vgg16.tv_in1k", "finetune", 224) == {"accuracy": 0.8670, "auroc": 0.9530}
    assert row("densenet121.ra_in1k", "finetune", 224) == {"accuracy": 0.8711, "auroc": 0.9503}
    assert row("resnet18.a1_in1k", "finetune", 28) == {"accuracy": 0.7966, "auroc": 0.9092}
    dino = "vit_base_patch16_224.dino"
    assert row(dino, "linear_probe", 224) == {"accuracy": 0.8511, "auroc": 0.9499}
    assert row("samvit_base_patch16.sa1b", "linear_probe", 224) == pytest.approx(
        {"accuracy": 0.6120, "auroc": 0.8175}
    )
    assert row(dino, "knn", 224) == {"accuracy": 0.8190}


def test_the_per_dataset_rows_average_to_the_published_means():
    """Each dataset's published numbers (read from its table) for every backbone, scheme and
    size; their mean over the 12 datasets is the Average table's, within its rounding."""
    rows = load_suite(SUITE).references.rows
    averages = {(r.backbone, r.strategy, r.where["data.options.size"]): r.values
                for r in rows if r.average == "datasets"}  # fmt: skip
    per_dataset: dict[tuple, list[dict[str, float]]] = {}
    for r in rows:
        if r.average is None:
            key = (r.backbone, r.strategy, r.where["data.options.size"])
            per_dataset.setdefault(key, []).append(r.values | {"dataset": r.dataset})
    assert set(per_dataset) == set(averages)
    for key, values in per_dataset.items():
        assert sorted(v["dataset"] for v in values) == FLAGS
        for metric, published in averages[key].items():
            mean = sum(v[metric] for v in values) / len(values)
            assert mean == pytest.approx(published, abs=1.1e-4), (key, metric)
