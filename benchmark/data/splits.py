"""Deterministic train/val/test assignment from the seed, group-aware when groups are known;
the seeded, stratified resamples of the training split that label efficiency trains on."""

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

__all__ = ["SPLITS", "assign_splits", "draw_episode"]

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
) -> pd.Series:
    """Return each record's split (``train``, ``val`` or ``test``), aligned with ``records``.

    Official splits in ``records["split"]`` are kept (unless ``official`` is off; an official
    val split is merged into train when ``official_val`` is off). Without a test split,
    ``test_fraction`` of the images is held out, or with ``folds`` the ``fold``-th of that
    many folds; without a val split, ``val_fraction`` of the remaining images is carved out.
    When ``groups`` has a group of several images, every carve keeps each group whole (a
    fraction f then holds out one of round(1/f) group folds).
    """
    split = records["split"].fillna("").astype(str).copy() if official else _empty(records)
    if not official_val:
        split[split == "val"] = ""
    grouped = groups is not None and groups.duplicated().any()
    carve = _Carver(records, groups if grouped else None, stratify)
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
    """Holds out part of a pool of records: stratified by label and/or whole groups."""

    def __init__(self, records: pd.DataFrame, groups: pd.Series | None, stratify: bool):
        self.records, self.groups, self.stratify = records, groups, stratify

    def fraction(self, pool: pd.Index, fraction: float, seed: int, name: str) -> pd.Index:
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
) -> np.ndarray:
    """The positions (sorted, a subset of ``train``) of one episode's training images:
    ``shots`` images of each class, or ``fraction`` of each class's images rounded (at least
    one), drawn with ``seed``; ``labels`` holds every image's class, by position.

    Each class's images are taken in one seeded order, so with the same seed a smaller
    budget's images are among a larger one's (a 1-shot episode within the 5-shot one). A
    class with fewer than ``shots`` training images is a :class:`DataError` naming it.
    """
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
