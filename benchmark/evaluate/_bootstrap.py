"""Percentile bootstrap intervals of test metrics, vectorised over resamples."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["bootstrap_intervals"]


def bootstrap_intervals(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    prefix: str = "test/",
) -> dict[str, float]:
    """``{prefix}{metric}_ci_low|high`` for accuracy, weighted/macro F1 and macro AUROC.

    Each resample draws the test images with replacement (seeded); resamples missing a
    class are left out of the AUROC interval, as AUROC is undefined there.
    """
    y_true = np.asarray(y_true)
    n, k = probs.shape
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    truth, pred = y_true[idx], probs.argmax(axis=1)[idx]
    flat = (np.arange(resamples)[:, None] * k * k + truth * k + pred).ravel()
    confusion = np.bincount(flat, minlength=resamples * k * k).reshape(resamples, k, k)
    hits = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    values = {
        "accuracy": hits.sum(axis=1) / n,
        "f1_weighted": (f1 * support).sum(axis=1) / n,
        "f1_macro": f1.mean(axis=1),
        "auroc_macro": _auroc_macro(truth, probs, idx),
    }
    tail = (1 - level) / 2 * 100
    out: dict[str, float] = {}
    for name, samples in values.items():
        samples = samples[np.isfinite(samples)]
        if len(samples):
            low, high = np.percentile(samples, [tail, 100 - tail])
            out |= {f"{prefix}{name}_ci_low": float(low), f"{prefix}{name}_ci_high": float(high)}
    return out


def _auroc_macro(truth: np.ndarray, probs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One-vs-rest AUROC per class through the Mann-Whitney rank statistic, then the mean."""
    n = idx.shape[1]
    per_class = []
    for c in range(probs.shape[1]):
        ranks = rankdata(probs[idx, c], axis=1)  # ties get their average rank
        positive = truth == c
        n_pos = positive.sum(axis=1).astype(float)
        n_neg = n - n_pos
        u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class.append(np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan))
    return np.mean(per_class, axis=0)
