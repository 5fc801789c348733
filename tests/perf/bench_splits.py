"""How well multi-label splits keep each label's prevalence: iterative stratification
against a random split, with and without patient groups.

    python -m tests.perf.bench_splits [--images 20000] [--seeds 5] [--per-patient 3.6]

Targets are 14 findings at ChestX-ray14's prevalences (Infiltration 17.7 % … Hernia 0.2 %),
correlated through a Gaussian copula (0.15 between any two findings, more between those that
go together: effusion, atelectasis, infiltration, edema, consolidation), each threshold at
its prevalence. Patients have 1 + a geometric number of images (``--per-patient`` on
average, as ChestX-ray14's 112,120 images of 30,805 patients); a patient's images share
most of its latent findings. Every split is ``assign_splits`` itself: test 20 %, val 12.5 %
of the rest (70/10/20), one split per seed.

Printed per method, the mean over seeds (and the worst seed) of: the largest difference in a
label's prevalence between any two of train/val/test, in percentage points (which label),
and relative to that label's prevalence; the share of images in test; the seconds a split
takes. "label sets" is the single-label path given the label combinations as classes (what a
multi-label dataset got without its targets).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import norm

from benchmark.data import assign_splits
from benchmark.errors import DataError

PREVALENCE = {
    "Infiltration": 0.177, "Effusion": 0.119, "Atelectasis": 0.103, "Nodule": 0.056,
    "Mass": 0.052, "Pneumothorax": 0.047, "Consolidation": 0.042, "Pleural_Thickening": 0.030,
    "Cardiomegaly": 0.025, "Emphysema": 0.022, "Edema": 0.021, "Fibrosis": 0.015,
    "Pneumonia": 0.013, "Hernia": 0.002,
}  # fmt: skip
TOGETHER = ("Effusion", "Atelectasis", "Infiltration", "Edema", "Consolidation")


def chest_targets(images: int, per_patient: float, seed: int = 0):
    """Records (with patient groups) and float32 targets of ``images`` chest radiographs."""
    rng = np.random.default_rng(seed)
    names = list(PREVALENCE)
    corr = np.full((len(names), len(names)), 0.15)
    together = [names.index(n) for n in TOGETHER]
    corr[np.ix_(together, together)] = 0.35
    np.fill_diagonal(corr, 1.0)
    sizes = rng.geometric(1 / per_patient, size=images)  # at least one image each
    patient = np.repeat(np.arange(images), sizes)[:images]
    latent = rng.multivariate_normal(np.zeros(len(names)), corr, size=patient.max() + 1)
    own = rng.multivariate_normal(np.zeros(len(names)), corr, size=images)
    z = np.sqrt(0.8) * latent[patient] + np.sqrt(0.2) * own  # still N(0, corr) per image
    targets = (z > norm.ppf(1 - np.array(list(PREVALENCE.values())))).astype(np.float32)
    labels = ["|".join(n for n, t in zip(names, row, strict=True) if t) for row in targets]
    records = pd.DataFrame({"id": np.arange(images).astype(str), "label": labels, "split": "",
                            "group": [f"p{p}" for p in patient]})  # fmt: skip
    return records, targets


def deviation(split: pd.Series, targets: np.ndarray) -> tuple[float, str, float]:
    """The largest spread of a label's prevalence over the splits: points, label, relative."""
    shares = np.array([targets[(split == s).to_numpy()].mean(axis=0) for s in SPLITS])
    spread = shares.max(axis=0) - shares.min(axis=0)
    worst = int(spread.argmax())
    relative = spread / targets.mean(axis=0)
    return 100 * spread[worst], list(PREVALENCE)[worst], 100 * float(relative.max())


SPLITS = ("train", "val", "test")
METHODS = {  # name: (stratify, groups, targets)
    "random": (False, False, False),
    "label sets": (True, False, False),
    "iterative": (True, False, True),
    "random, groups": (False, True, False),
    "label sets, groups": (True, True, False),
    "iterative, groups": (True, True, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--per-patient", type=float, default=3.6)
    args = parser.parse_args()
    records, targets = chest_targets(args.images, args.per_patient)
    patients = records["group"].nunique()
    print(f"{args.images} images of {patients} patients, {targets.shape[1]} labels; "
          f"prevalence {100 * targets.mean(axis=0).max():.1f}% … "
          f"{100 * targets.mean(axis=0).min():.2f}%, {int(targets.sum(axis=0).min())} "
          f"positives of the rarest; splits 70/10/20, {args.seeds} seeds")  # fmt: skip
    print(f"{'method':<20} {'max spread (pp)':>22} {'max relative':>18} {'test share':>11} "
          f"{'seconds':>8}")  # fmt: skip
    for name, (stratify, grouped, with_targets) in METHODS.items():
        rows, seconds = [], []
        try:
            for seed in range(args.seeds):
                start = time.perf_counter()
                split = assign_splits(
                    records, val_fraction=0.125, test_fraction=0.2, stratify=stratify,
                    seed=seed, groups=records["group"] if grouped else None,
                    targets=targets if with_targets else None,
                )  # fmt: skip
                seconds.append(time.perf_counter() - start)
                if grouped:
                    assert (records.assign(s=split).groupby("group")["s"].nunique() == 1).all()
                rows.append((*deviation(split, targets), float((split == "test").mean())))
        except DataError as exc:
            print(f"{name:<20} fails: {str(exc)[:60]}…")
            continue
        points, labels, relative, test = zip(*rows, strict=True)
        label = labels[int(np.argmax(points))]
        print(f"{name:<20} {np.mean(points):5.2f} (worst {max(points):4.2f} {label[:10]:<10}) "
              f"{np.mean(relative):6.1f}% (≤{max(relative):5.1f}%) {np.mean(test):11.3f} "
              f"{np.mean(seconds):8.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
