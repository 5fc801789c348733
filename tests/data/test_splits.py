"""Splits: fractions and ratios, groups kept whole, k-fold, official folders, determinism;
the label-efficiency episodes drawn from the train split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.data import assign_splits, draw_episode
from benchmark.errors import DataError
from benchmark.suite._schema import SplitConfig


def _records(n=200, classes=4, per_group=4, official=""):
    labels = [f"c{i % classes}" for i in range(n)]
    groups = [f"patient{i // (classes * per_group)}_{i % classes}" for i in range(n)]
    return pd.DataFrame(
        {"id": [f"img{i}" for i in range(n)], "label": labels, "split": official, "group": groups}
    )


def test_ratios_set_both_fractions():
    config = SplitConfig(ratios=(60, 20, 20))
    assert config.test_fraction == pytest.approx(0.2)
    assert config.val_fraction == pytest.approx(0.25)  # of the non-test images: 20 of 80
    records = _records(400, per_group=1)
    split = assign_splits(
        records, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=1
    )
    assert split.value_counts().to_dict() == {"train": 240, "val": 80, "test": 80}
    assert (pd.crosstab(split, records["label"]).loc["test"] == 20).all()  # stratified


def test_groups_never_straddle_splits_and_classes_stay_balanced():
    records = _records(400, per_group=5)
    split = assign_splits(
        records, val_fraction=0.25, test_fraction=0.2, seed=3, groups=records["group"]
    )
    assert (records.assign(split=split).groupby("group")["split"].nunique() == 1).all()
    share = split.value_counts(normalize=True)
    assert share["test"] == pytest.approx(0.2, abs=0.05)
    per_class = pd.crosstab(split, records["label"]).loc["test"]
    assert per_class.max() - per_class.min() <= 5  # stratified by group


def test_k_fold_test_splits_partition_the_data():
    records = _records(200, per_group=2)
    tests = [
        set(np.flatnonzero(assign_splits(
            records, val_fraction=0.2, test_fraction=0.2, folds=5, fold=k, seed=0,
            groups=records["group"],
        ) == "test"))
        for k in range(5)
    ]  # fmt: skip
    assert sum(len(t) for t in tests) == 200
    assert set().union(*tests) == set(range(200))


def test_official_splits_are_kept_and_official_val_can_be_carved_again():
    official = ["train"] * 150 + ["val"] * 10 + ["test"] * 40
    records = _records(200, per_group=1, official=official)
    kept = assign_splits(records, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert (kept == pd.Series(official)).all()
    carved = assign_splits(records, val_fraction=0.1, test_fraction=0.2, seed=0, official_val=False)
    assert (carved[records["split"] == "test"] == "test").all()
    assert carved.value_counts()["val"] == 16  # 10% of the 160 official train+val images
    ignored = assign_splits(records, val_fraction=0.1, test_fraction=0.2, seed=0, official=False)
    assert not (ignored == pd.Series(official)).all()


def test_splits_are_deterministic_from_the_seed():
    records = _records(120, per_group=3)
    kwargs = {"val_fraction": 0.2, "test_fraction": 0.2, "groups": records["group"]}
    a = assign_splits(records, seed=5, **kwargs)
    assert (a == assign_splits(records, seed=5, **kwargs)).all()
    assert not (a == assign_splits(records, seed=6, **kwargs)).all()


def test_bad_split_settings_are_refused():
    with pytest.raises(ValueError, match="fold 5 does not exist"):
        SplitConfig(folds=5, fold=5)
    with pytest.raises(ValueError, match="positive"):
        SplitConfig(ratios=(80, 0, 20))


def _split_records(n=240, classes=4):
    records = _records(n, classes=classes, per_group=1)
    split = assign_splits(records, val_fraction=0.2, test_fraction=0.2, seed=3)
    return records, split


@pytest.mark.parametrize("budget", [{"shots": 1}, {"shots": 5}, {"fraction": 0.1}])
def test_an_episode_is_a_stratified_draw_of_the_train_split_alone(budget):
    records, split = _split_records()
    train = np.flatnonzero(split == "train")
    labels = records["label"].to_numpy()
    classes = sorted(set(labels))
    drawn = draw_episode(train, labels, classes=classes, seed=0, **budget)
    assert set(drawn) <= set(train)  # never a validation or test image
    assert not set(drawn) & set(np.flatnonzero(split != "train"))
    per_class = pd.Series(labels[drawn]).value_counts()
    available = pd.Series(labels[train]).value_counts()
    expected = {c: budget.get("shots") or max(1, round(budget["fraction"] * available[c]))
                for c in classes}  # fmt: skip
    assert per_class.to_dict() == expected
    assert list(drawn) == sorted(drawn) and len(set(drawn)) == len(drawn)


def test_episodes_are_deterministic_per_seed_and_differ_across_seeds():
    records, split = _split_records()
    train, labels = np.flatnonzero(split == "train"), records["label"].to_numpy()
    classes = sorted(set(labels))
    draws = [draw_episode(train, labels, classes=classes, seed=s, shots=5) for s in range(4)]
    again = draw_episode(train, labels, classes=classes, seed=0, shots=5)
    assert np.array_equal(draws[0], again)
    assert len({tuple(d) for d in draws}) == 4
    # with one seed, a smaller budget's images are among a larger one's
    one = draw_episode(train, labels, classes=classes, seed=2, shots=1)
    assert set(one) <= set(draws[2])
    whole = draw_episode(train, labels, classes=classes, seed=2, fraction=1.0)
    assert np.array_equal(whole, np.sort(train))


def test_more_shots_than_a_class_has_names_the_class_and_its_count():
    records, split = _split_records(n=40)
    train, labels = np.flatnonzero(split == "train"), records["label"].to_numpy()
    fewest = pd.Series(labels[train]).value_counts().sort_index().idxmin()
    count = int((labels[train] == fewest).sum())
    with pytest.raises(DataError, match=f"class '{fewest}' has {count} training images"):
        draw_episode(train, labels, classes=sorted(set(labels)), seed=0, shots=count + 1)
    with pytest.raises(ValueError, match="fraction"):
        draw_episode(train, labels, classes=["c0"], seed=0, fraction=1.5)


_PREVALENCE = np.array([0.3, 0.15, 0.08, 0.04, 0.02])


def _multilabel(n=600, per_group=1, seed=0):
    """Records and targets of five independent findings; a group's images share them."""
    group = np.arange(n) // per_group
    rng = np.random.default_rng(seed)
    targets = (rng.random((group.max() + 1, 5)) < _PREVALENCE)[group].astype(np.float32)
    labels = ["|".join(f"f{j}" for j in np.flatnonzero(row)) for row in targets]
    records = pd.DataFrame({"id": [f"img{i}" for i in range(n)], "label": labels, "split": "",
                            "group": [f"patient{g}" for g in group]})  # fmt: skip
    return records, targets


def _off_share(split, targets, shares):
    """Per split and label: positives found minus its share of all positives."""
    return np.array([targets[(split == name).to_numpy()].sum(axis=0) - share * targets.sum(axis=0)
                     for name, share in shares.items()])  # fmt: skip


_SHARES = {"train": 0.6, "val": 0.2, "test": 0.2}  # test 20%, val 25% of the rest


def test_multilabel_splits_keep_every_labels_prevalence_where_a_random_split_drifts():
    records, targets = _multilabel()
    kwargs = {"val_fraction": 0.25, "test_fraction": 0.2, "seed": 0}
    split = assign_splits(records, targets=targets, **kwargs)
    assert split.value_counts().to_dict() == {"train": 360, "val": 120, "test": 120}
    assert np.abs(_off_share(split, targets, _SHARES)).max() < 1  # within one image
    random = assign_splits(records, stratify=False, targets=targets, **kwargs)
    assert np.abs(_off_share(random, targets, _SHARES)).max() > 3
    with pytest.raises(DataError, match="least populated"):  # combinations are too rare
        assign_splits(records, **kwargs)


def test_multilabel_splits_keep_patients_whole_and_prevalence_within_a_patient():
    records, targets = _multilabel(per_group=3)
    split = assign_splits(
        records, val_fraction=0.25, test_fraction=0.2, seed=0, groups=records["group"],
        targets=targets,
    )  # fmt: skip
    assert (records.assign(split=split).groupby("group")["split"].nunique() == 1).all()
    assert split.value_counts().to_dict() == {"train": 360, "val": 120, "test": 120}
    assert np.abs(_off_share(split, targets, _SHARES)).max() <= 3  # one patient's images


def test_multilabel_k_fold_test_splits_partition_the_data_with_each_label_spread():
    records, targets = _multilabel(per_group=2)
    held = [assign_splits(
        records, val_fraction=0.2, test_fraction=0.2, folds=5, fold=k, seed=1,
        groups=records["group"], targets=targets,
    ) == "test" for k in range(5)]  # fmt: skip
    assert (np.sum(held, axis=0) == 1).all()  # every image in exactly one test fold
    positives = np.array([targets[h.to_numpy()].sum(axis=0) for h in held])
    assert np.abs(positives - targets.sum(axis=0) / 5).max() <= 2


def test_multilabel_splits_are_deterministic_and_unknown_targets_count_as_absent():
    records, targets = _multilabel(per_group=2)
    kwargs = {"val_fraction": 0.2, "test_fraction": 0.2, "groups": records["group"]}
    a = assign_splits(records, seed=5, targets=targets, **kwargs)
    assert (a == assign_splits(records, seed=5, targets=targets.copy(), **kwargs)).all()
    assert not (a == assign_splits(records, seed=6, targets=targets, **kwargs)).all()
    unknown = targets.copy()
    unknown[np.random.default_rng(0).random(targets.shape) < 0.2] = np.nan
    absent = np.nan_to_num(unknown)
    b = assign_splits(records, seed=5, targets=unknown, **kwargs)
    assert (b == assign_splits(records, seed=5, targets=absent, **kwargs)).all()


def test_a_label_too_rare_for_its_share_stays_in_train():
    """A label's first carve gives no split more than its share rounded up: with two
    positives, 20% test (0.4) and 25% of the rest for val (0.5) both stay in train; with
    three, test's 0.6 rounds up to one."""
    records, targets = _multilabel(n=200)
    targets[:, 4] = 0
    for n, expected in ((2, {"train": 2}), (3, {"train": 2, "test": 1})):
        rare = targets.copy()
        rare[[10, 90, 150][:n], 4] = 1
        split = assign_splits(records, val_fraction=0.25, test_fraction=0.2, seed=2, targets=rare)
        assert split[rare[:, 4] == 1].value_counts().to_dict() == expected


def test_an_episode_needs_a_single_label_task():
    records, targets = _multilabel(n=40)
    with pytest.raises(DataError, match="single-label task"):
        draw_episode(np.arange(30), records["label"].to_numpy(), classes=["f0"], seed=0,
                     shots=1, targets=targets)  # fmt: skip
    with pytest.raises(DataError, match="multi-label"):
        draw_episode(np.arange(30), targets, classes=["f0"], seed=0, fraction=0.5)
