"""The integrity audit finds planted duplicates and group overlap; policies act on leaks."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from benchmark.data import index_dataset, write_synthetic
from benchmark.data.audit import NEAR_DISTANCE
from benchmark.errors import DataError
from benchmark.suite._schema import AuditConfig, DatasetConfig, SplitConfig


@pytest.fixture
def planted(tmp_path):
    """A brain-tumor-mri tree with a train image copied byte for byte into Testing/, another
    re-encoded and resized into Testing/, and a duplicate within Training/."""
    root = tmp_path / "bt"
    write_synthetic(root, per_class=8, size=64, seed=2)
    train = root / "Training"
    shutil.copy(train / "glioma/Tr-gl_0001.jpg", root / "Testing/glioma/Te-copy.jpg")
    image = cv2.imread(str(train / "meningioma/Tr-me_0002.jpg"), cv2.IMREAD_GRAYSCALE)
    near = cv2.resize(image, (56, 56))
    cv2.imwrite(str(root / "Testing/meningioma/Te-near.png"), near)
    shutil.copy(train / "notumor/Tr-no_0003.jpg", train / "notumor/Tr-no_0003 (1).jpg")
    return root


def _index(root, policy="warn", **split):
    config = DatasetConfig(layout="brain-tumor-mri", root=root, split=SplitConfig(**split))
    return index_dataset("bt", config, seed=0, policy=AuditConfig(on_leak=policy))


def test_audit_finds_exact_and_near_duplicates_within_and_across_splits(planted):
    report = _index(planted).report
    counts = report.counts()
    assert counts["exact_duplicate_sets"] == 2 and counts["near_duplicate_sets"] == 1
    assert counts["duplicate_sets_across_splits"] == 2
    assert sorted(report.test_leaks) == [
        "Testing/glioma/Te-copy.jpg",
        "Testing/meningioma/Te-near.png",
    ]
    within = next(d for d in report.duplicates if len(d["splits"]) == 1)  # train or val
    assert {i["id"] for i in within["images"]} == {
        "Training/notumor/Tr-no_0003.jpg",
        "Training/notumor/Tr-no_0003 (1).jpg",
    }
    assert report.label_conflicts == []
    assert report.splits["test"]["glioma"] == 3


def test_distinct_phantoms_are_not_near_duplicates(tmp_path):
    root = tmp_path / "bt"
    write_synthetic(root, per_class=40, size=96, seed=5, difficulty=0.3)
    counts = _index(root).report.counts()
    assert counts["near_duplicate_sets"] == 0 and counts["exact_duplicate_sets"] == 0


def test_policy_drop_removes_leaking_test_images_and_fail_stops(planted):
    dropped = _index(planted, "drop")
    leaks = set(dropped.report.test_leaks)
    table = dropped.split_table().set_index("id")
    assert set(table.index[table["split"] == "dropped"]) == leaks
    assert dropped.audit_metrics()["data/test_leaks"] == 2
    assert dropped.audit_metrics()["data/dropped_leaks"] == 2
    with pytest.raises(DataError, match=r"2 test image\(s\) duplicate"):
        _index(planted, "fail")


def test_random_splits_keep_duplicates_and_groups_together(planted):
    data = _index(planted, official=False, ratios=(60, 20, 20))
    assert data.report.test_leaks == []  # copies always land on one side
    split = data.split_table().set_index("id")["split"]
    assert split["Testing/glioma/Te-copy.jpg"] == split["Training/glioma/Tr-gl_0001.jpg"]
    assert split["Testing/meningioma/Te-near.png"] == split["Training/meningioma/Tr-me_0002.jpg"]


def test_group_overlap_across_official_splits_is_reported(tmp_path):
    root = tmp_path / "cx"
    write_synthetic(root, layout="chest-xray-pneumonia", per_class=7, size=48)
    config = DatasetConfig(layout="chest-xray-pneumonia", root=root)
    report = index_dataset("cx", config, seed=0, policy=AuditConfig()).report
    assert report.group_overlap, "patients of the fake tree straddle train and test"
    leaking = {g["group"] for g in report.group_overlap if "test" in g["splits"]}
    assert leaking and len(report.test_leaks) >= len(leaking)
    assert all(len(g["splits"]) > 1 for g in report.group_overlap)


def test_odd_sizes_and_modes_are_listed(planted):
    big = np.zeros((64, 300), np.uint8)
    cv2.imwrite(str(planted / "Training/pituitary/wide.png"), big)
    report = _index(planted).report
    odd = {o["id"]: o["why"] for o in report.odd_images}
    assert "elongated" in odd["Training/pituitary/wide.png"]
    assert report.sizes["64x64"] >= 30


def test_near_duplicate_benchmark_recall_and_precision():
    """The benchmark of tests/perf/bench_duplicates.py at a small size: re-encoded, resized,
    blurred, cropped, shifted and re-exposed copies are found, distinct phantoms of one
    class (which all look alike) are not paired."""
    from tests.perf.bench_duplicates import evaluate, facts_of, make_benchmark

    files, table = make_benchmark(distinct=100, copies=100, size=192, seed=0)
    facts = facts_of(files)
    result = evaluate(facts, table, near_distance=NEAR_DISTANCE)
    assert result["false_pairs"] == 0 and result["recall"] >= 0.99, result
