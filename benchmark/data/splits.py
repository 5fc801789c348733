"""Deterministic train/val/test assignment from the seed, group-aware when groups are known
and stratified by class, or for multi-label targets by iterative stratification; the seeded,
stratified resamples of the training split that label efficiency trains on."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from benchmark.errors import DataError

__all__ = ["SPLITS", "assign_splits", "draw_episode", "iterative_stratification"]

SPLITS = ("train", "val", "test")


def assign_splits(
    records: pd.DataFrame,
    *,
    val_fraction: float,
    test_fraction: float,
    stratify: bool = True,
    seed: int = 0,
    groups: pd.Series | None = None,
    official: bool = True,
    official_val: bool = True,
    folds: int | None = None,
    fold: int = 0,
    targets: np.ndarray | None = None,
) -> pd.Series:
    """Return each record's split (``train``, ``val`` or ``test``), aligned with ``records``.

    Official splits in ``records["split"]`` are kept (unless ``official`` is off; an official
    val split is merged into train when ``official_val`` is off). Without a test split,
    ``test_fraction`` of the images is held out, or with ``folds`` the ``fold``-th of that
    many folds; without a val split, ``val_fraction`` of the remaining images is carved out.
    When ``groups`` has a group of several images, every carve keeps each group whole (a
    fraction f then holds out one of round(1/f) group folds).

    With multi-label ``targets`` (N × L, 1/0/NaN by position; NaN counts as absent) every
    stratified carve is an :func:`iterative_stratification`, so each label keeps its
    prevalence in every split; with groups, whole groups are placed (a group carries a label
    when any of its images does, weighted by its images), holding out ``f`` of the images.
    """
    split = records["split"].fillna("").astype(str).copy() if official else _empty(records)
    if not official_val:
        split[split == "val"] = ""
    grouped = groups is not None and groups.duplicated().any()
    carve = _Carver(records, groups if grouped else None, stratify, targets)
    if not (split == "test").any():
        pool = split.index[split != "val"]
        if folds:
            held = carve.fold(pool, folds, fold, seed, "test")
        else:
            held = carve.fraction(pool, test_fraction, seed, "test")
        split[held] = "test"
    if not (split == "val").any():
        pool = split.index[split != "test"]
        split[carve.fraction(pool, val_fraction, seed + 1, "val")] = "val"
    split[~split.isin(SPLITS)] = "train"
    for name in SPLITS:
        if not (split == name).any():
            raise DataError(f"the {name} split is empty: the dataset has too few images.")
    return split


def _empty(records: pd.DataFrame) -> pd.Series:
    return pd.Series("", index=records.index, name="split")


class _Carver:
    """Holds out part of a pool of records: stratified by label (multi-label: iteratively)
    and/or whole groups."""

    def __init__(
        self,
        records: pd.DataFrame,
        groups: pd.Series | None,
        stratify: bool,
        targets: np.ndarray | None = None,
    ):
        self.records, self.groups, self.stratify = records, groups, stratify
        self.present = None  # multi-label: which labels each image has (NaN: absent)
        if targets is not None and stratify:
            targets = np.asarray(targets, dtype=np.float32)
            if targets.ndim != 2 or len(targets) != len(records):
                raise ValueError(f"targets of shape {targets.shape} for {len(records)} records")
            self.present = np.nan_to_num(targets) > 0.5

    def fraction(self, pool: pd.Index, fraction: float, seed: int, name: str) -> pd.Index:
        if self.present is not None:
            return pool[self._iterative(pool, [1 - fraction, fraction], seed) == 1]
        labels = self.records.loc[pool, "label"]
        if self.groups is None:
            return self._attempt(
                name,
                pool,
                fraction,
                lambda: train_test_split(
                    np.asarray(pool),
                    test_size=fraction,
                    random_state=seed,
                    stratify=labels if self.stratify else None,
                )[1],
            )
        if self.stratify:
            return self.fold(pool, max(2, round(1 / fraction)), 0, seed, name)
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        return self._attempt(
            name,
            pool,
            fraction,
            lambda: np.asarray(pool)[
                next(splitter.split(pool, labels, self.groups[pool].to_numpy()))[1]
            ],
        )

    def fold(self, pool: pd.Index, folds: int, fold: int, seed: int, name: str) -> pd.Index:
        if self.present is not None:
            return pool[self._iterative(pool, [1 / folds] * folds, seed) == fold]
        labels = self.records.loc[pool, "label"].to_numpy()
        groups = None if self.groups is None else self.groups[pool].to_numpy()
        if groups is not None:
            splitter = (
                StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
                if self.stratify
                else GroupKFold(folds)
            )
        elif self.stratify:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        else:
            splitter = KFold(folds, shuffle=True, random_state=seed)

        def held() -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "least populated class" notes
                parts = list(splitter.split(np.asarray(pool), labels, groups))
            return np.asarray(pool)[parts[fold][1]]

        return self._attempt(name, pool, 1 / folds, held)

    def _iterative(self, pool: pd.Index, fractions: list[float], seed: int) -> np.ndarray:
        """Each pool record's part, by iterative stratification of its images, or of its
        groups (a group's positives summed over its images, its weight its image count)."""
        present = np.asarray(self.present)[self.records.index.get_indexer(pool)]
        if self.groups is None or not len(pool):
            return iterative_stratification(present, fractions, seed=seed)
        codes, _ = pd.factorize(self.groups[pool])
        counts = np.zeros((codes.max() + 1, present.shape[1]))
        np.add.at(counts, codes, present)
        weights = np.bincount(codes)
        return iterative_stratification(counts, fractions, weights=weights, seed=seed)[codes]

    def _attempt(self, name: str, pool: pd.Index, fraction: float, carve) -> pd.Index:
        try:
            return pd.Index(carve())
        except ValueError as exc:
            counts = self.records.loc[pool, "label"].value_counts().to_dict()
            whole = " while keeping groups whole" if self.groups is not None else ""
            raise DataError(
                f"cannot carve a {fraction:.0%} {name} split{whole} from {len(pool)} images "
                f"(per class: {counts}): {str(exc).rstrip('.')}. Add images, change the "
                "fraction, or set `split.stratify: false`."
            ) from None


def draw_episode(
    train: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    classes: Sequence[str],
    seed: int,
    shots: int | None = None,
    fraction: float | None = None,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """The positions (sorted, a subset of ``train``) of one episode's training images:
    ``shots`` images of each class, or ``fraction`` of each class's images rounded (at least
    one), drawn with ``seed``; ``labels`` holds every image's class, by position.

    Each class's images are taken in one seeded order, so with the same seed a smaller
    budget's images are among a larger one's (a 1-shot episode within the 5-shot one). A
    class with fewer than ``shots`` training images is a :class:`DataError` naming it, and
    so are multi-label ``targets`` (N × L, or ``labels`` of that shape): an image has no
    single class to draw it by.
    """
    if targets is not None or np.ndim(labels) == 2:
        raise DataError(
            "train.shots and train.fraction draw images class by class, so they need a "
            "single-label task, but the dataset is multi-label (`task: multilabel`): leave "
            "the label budget out of its cells."
        )
    if (shots is None) == (fraction is None):
        raise ValueError("give either `shots` or `fraction`")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"`0 < fraction <= 1` must hold, but got fraction={fraction}")
    if shots is not None and shots < 1:
        raise ValueError(f"`shots >= 1` must hold, but got shots={shots}")
    train = np.asarray(train)
    of_train = np.asarray(labels)[train]
    rng = np.random.default_rng(seed)
    chosen = []
    for label in classes:
        members = train[of_train == label]
        if fraction is not None:
            take = min(len(members), max(1, round(fraction * len(members))))
        else:
            take = int(shots or 0)
            if len(members) < take:
                raise DataError(
                    f"train.shots: {take} images per class, but class '{label}' has "
                    f"{len(members)} training images: lower the shots, or add images."
                )
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen)) if chosen else train[:0]


def iterative_stratification(
    counts: np.ndarray,
    fractions: Sequence[float],
    *,
    seed: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each row's part (0 … k-1) of a multi-label set cut in ``fractions``, by iterative
    stratification (Sechidis, Tsoumakas and Vlahavas, ECML PKDD 2011), seeded.

    ``counts`` (N × L) are each row's positives per label (0/1 for an image, a count for a
    group), ``weights`` its images (default 1). The label with the fewest rows left is
    placed first, each of its rows in the part that still wants most of that label (ties:
    the part wanting most images, then the seed); rows without labels then fill each part
    up to its share of images. The first label placed thus gets at most its share rounded
    up in every part (two positives and a 20% part: both stay in the 80% part).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(counts))
    counts = np.asarray(counts, dtype=float)[order]
    weights = np.ones(len(counts)) if weights is None else np.asarray(weights, float)[order]
    share = np.asarray(fractions, dtype=float)
    room = share * weights.sum()  # images each part still wants
    wanted = np.outer(share, counts.sum(axis=0))  # positives of each label each part wants
    carries, left = counts > 0, np.ones(len(counts), dtype=bool)
    part = np.zeros(len(counts), dtype=np.int64)
    while (remaining := carries[left].sum(axis=0)).any():
        fewest = np.flatnonzero(remaining == remaining[remaining > 0].min())
        label = fewest[rng.integers(len(fewest))]
        for i in np.flatnonzero(left & carries[:, label]):
            best = np.flatnonzero(wanted[:, label] >= wanted[:, label].max() - 1e-9)
            if len(best) > 1:
                best = best[room[best] >= room[best].max() - 1e-9]
            j = best[rng.integers(len(best))] if len(best) > 1 else best[0]
            part[i], left[i] = j, False
            wanted[j] -= counts[i]
            room[j] -= weights[i]
    rest = np.flatnonzero(left)  # rows without a label, in the seeded order
    if len(rest):
        room = np.clip(room, 0, None) if room.max() > 0 else share
        middle = np.cumsum(weights[rest]) - weights[rest] / 2
        bounds = np.cumsum(room) / room.sum() * weights[rest].sum()
        part[rest] = np.minimum(np.searchsorted(bounds, middle), len(share) - 1)
    return part[np.argsort(order)]
