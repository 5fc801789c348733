"""Multi-label evaluation and its bootstrap intervals against scikit-learn per resample.

    python -m tests.perf.bench_multilabel_metrics [--images 25000] [--resamples 1000]
                                                  [--naive-resamples 10] [--missing 0.05]

Predictions are random but realistic: the 14 labels of ChestX-ray14 at their prevalences
(0.2 % to 18 %), each scored by a sigmoid of a noisy logit that separates the classes to an
AUROC of about 0.7 to 0.9, stored as float32 (so some scores tie), and a share of the
targets missing (NaN, as CheXpert's uncertain labels ignored). Timed: ``evaluate_multilabel``
(the point estimates) and ``multilabel_intervals`` (per-label AUROC, macro and micro AUROC,
macro average precision, macro and micro F1) on the default threads and on one; against
the same intervals computed the plain way, scikit-learn's ``roc_auc_score``,
``average_precision_score`` and ``f1_score`` on every resample (timed on a few resamples
and scaled). Printed: seconds, the ratio, and the largest difference between the fast
resampled AUROCs and scikit-learn's on the same resamples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from benchmark.evaluate import evaluate_multilabel, multilabel_intervals
from benchmark.evaluate._bootstrap import _cores, resample_weights
from benchmark.evaluate._weighted import SortedScores

PREVALENCE = {  # ChestX-ray14
    "Atelectasis": 0.103, "Cardiomegaly": 0.025, "Effusion": 0.119, "Infiltration": 0.177,
    "Mass": 0.052, "Nodule": 0.056, "Pneumonia": 0.013, "Pneumothorax": 0.047,
    "Consolidation": 0.042, "Edema": 0.021, "Emphysema": 0.022, "Fibrosis": 0.015,
    "Pleural_Thickening": 0.030, "Hernia": 0.002,
}  # fmt: skip


def predictions(n: int, *, missing: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    prevalence = np.array(list(PREVALENCE.values()))
    targets = (rng.random((n, len(prevalence))) < prevalence).astype(float)
    separation = rng.uniform(0.8, 1.8, len(prevalence))
    logits = rng.normal(size=targets.shape) + separation * targets + np.log(prevalence)
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32).astype(float)
    targets[rng.random(targets.shape) < missing] = np.nan
    return targets, probs


def naive(targets, probs, thresholds, idx) -> dict[str, list[float]]:
    """The same resampled metrics, scikit-learn on every resample."""
    out: dict[str, list[float]] = {"auroc_macro": [], "auroc_micro": [], "f1_micro": []}
    out |= {"average_precision_macro": [], "f1_macro": []}
    for draw in idx:
        t, p = targets[draw], probs[draw]
        seen = ~np.isnan(t)
        aurocs, aps, f1s = [], [], []
        for k in range(t.shape[1]):
            y, s = t[seen[:, k], k] == 1, p[seen[:, k], k]
            f1s.append(skm.f1_score(y, s >= thresholds[k], zero_division=0))
            if 0 < y.sum() < len(y):
                aurocs.append(skm.roc_auc_score(y, s))
                aps.append(skm.average_precision_score(y, s))
        out["auroc_macro"].append(float(np.mean(aurocs)))
        out["average_precision_macro"].append(float(np.mean(aps)))
        out["f1_macro"].append(float(np.mean(f1s)))
        out["auroc_micro"].append(skm.roc_auc_score(t[seen] == 1, p[seen]))
        out["f1_micro"].append(skm.f1_score(t[seen] == 1, (p >= thresholds)[seen]))
    return out


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=25_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive-resamples", type=int, default=10)
    parser.add_argument("--missing", type=float, default=0.05)
    args = parser.parse_args()
    labels = list(PREVALENCE)
    targets, probs = predictions(args.images, missing=args.missing)
    thresholds = [float(np.quantile(probs[:, k], 1 - p)) for k, p in enumerate(PREVALENCE.values())]
    print(f"{args.images} images × {len(labels)} labels, {args.missing:.0%} missing, "
          f"{args.resamples} resamples, {_cores()} cores")  # fmt: skip

    result, point_s = timed(
        lambda: evaluate_multilabel(
            targets, probs, labels=labels, ids=[""] * len(targets), thresholds=thresholds
        )
    )
    print(f"evaluate_multilabel           {point_s:6.2f} s  "
          f"(macro AUROC {result.metrics['test/auroc_macro']:.3f})")  # fmt: skip
    for threads in (None, 1):
        _, fast_s = timed(
            lambda t=threads: multilabel_intervals(
                targets, probs, labels=labels, thresholds=thresholds,
                resamples=args.resamples, threads=t,
            )
        )  # fmt: skip
        name = f"{threads or min(4, _cores())} thread(s)"
        print(f"multilabel_intervals, {name:11s} {fast_s:6.2f} s")

    idx = np.random.default_rng(1).integers(0, len(targets), (args.naive_resamples, len(targets)))
    _, naive_s = timed(lambda: naive(targets, probs, thresholds, idx))
    naive_s *= args.resamples / args.naive_resamples
    print(f"scikit-learn per resample     {naive_s:6.1f} s (scaled from {args.naive_resamples})"
          f"  ratio {naive_s / fast_s:.0f}× (one thread)")  # fmt: skip

    weights = resample_weights(idx, len(targets))
    seen, rows = ~np.isnan(targets), np.arange(len(targets))
    worst = 0.0
    for k in range(len(labels)):
        y, s, r = targets[seen[:, k], k] == 1, probs[seen[:, k], k], rows[seen[:, k]]
        auroc, ap = SortedScores(y, s, r, len(targets)).auroc_ap(weights)
        for j, draw in enumerate(idx):
            t, p = targets[draw, k], probs[draw, k]
            observed = ~np.isnan(t)
            worst = max(
                worst,
                abs(auroc[j] - skm.roc_auc_score(t[observed] == 1, p[observed])),
                abs(ap[j] - skm.average_precision_score(t[observed] == 1, p[observed])),
            )
    print(f"largest |fast − scikit-learn| over {len(idx)} resamples × {len(labels)} labels "
          f"(AUROC, average precision): {worst:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
