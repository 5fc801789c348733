"""Deterministic train/val/test assignment from the seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchmark.errors import DataError

__all__ = ["SPLITS", "assign_splits"]

SPLITS = ("train", "val", "test")


def assign_splits(
    records: pd.DataFrame,
    *,
    val_fraction: float,
    test_fraction: float,
    stratify: bool = True,
    seed: int = 0,
) -> pd.Series:
    """Return each record's split (``train``, ``val`` or ``test``), aligned with ``records``.

    Official splits in ``records["split"]`` are kept. Without an official test split,
    ``test_fraction`` of all images is held out; without an official val split,
    ``val_fraction`` of the remaining (non-test) images is carved out for validation.
    """
    split = records["split"].fillna("").astype(str).copy()
    if not (split == "test").any():
        pool = split.index[split != "val"]
        split[_carve(records, pool, test_fraction, stratify, seed, "test")] = "test"
    if not (split == "val").any():
        pool = split.index[split != "test"]
        split[_carve(records, pool, val_fraction, stratify, seed + 1, "val")] = "val"
    split[~split.isin(SPLITS)] = "train"
    for name in SPLITS:
        if not (split == name).any():
            raise DataError(f"the {name} split is empty: the dataset has too few images.")
    return split


def _carve(
    records: pd.DataFrame, pool: pd.Index, fraction: float, stratify: bool, seed: int, name: str
) -> pd.Index:
    labels = records.loc[pool, "label"]
    try:
        _, held = train_test_split(
            np.asarray(pool),
            test_size=fraction,
            random_state=seed,
            stratify=labels if stratify else None,
        )
    except ValueError as exc:
        counts = labels.value_counts().to_dict()
        raise DataError(
            f"cannot carve a {fraction:.0%} {name} split from {len(pool)} images "
            f"(per class: {counts}): {exc}. Add images, change the fraction, or set "
            "`split.stratify: false`."
        ) from None
    return pd.Index(held)
