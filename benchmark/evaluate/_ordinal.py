"""Ordinal tasks (grades in order): the multiclass metrics plus how far off a grade is —
quadratic-weighted kappa, mean absolute error in grades, and accuracy within one grade."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from benchmark.evaluate._bootstrap import intervals, resampled
from benchmark.evaluate._metrics import Evaluation, evaluate

__all__ = ["evaluate_ordinal", "ordinal_intervals", "ordinal_metrics"]


def ordinal_metrics(y_true: np.ndarray, probs_or_pred: np.ndarray) -> dict[str, float]:
    """``kappa_quadratic``, ``mae`` (grades) and ``accuracy_within_1`` of the predicted
    grades (the most probable one when given N × K probabilities). Kappa is left out where
    it is undefined (one grade only, in truth and prediction alike)."""
    y_true = np.asarray(y_true)
    given = np.asarray(probs_or_pred)
    pred = given.argmax(axis=1) if given.ndim == 2 else given
    labels = list(range(given.shape[1])) if given.ndim == 2 else None
    off = np.abs(pred - y_true)
    out = {"mae": float(off.mean()), "accuracy_within_1": float((off <= 1).mean())}
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # undefined: left out below
        kappa = skm.cohen_kappa_score(y_true, pred, labels=labels, weights="quadratic")
    if np.isfinite(kappa):
        out["kappa_quadratic"] = float(kappa)
    return out


def evaluate_ordinal(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    classes: list[str],
    ids: list[str],
    prefix: str = "test/",
) -> Evaluation:
    """:func:`~benchmark.evaluate.evaluate` (``classes`` in grade order) plus
    :func:`ordinal_metrics`."""
    result = evaluate(y_true, probs, classes=classes, ids=ids, prefix=prefix)
    extra = {f"{prefix}{k}": v for k, v in ordinal_metrics(y_true, probs).items()}
    return Evaluation(result.metrics | extra, result.confusion, result.report, result.predictions)


def ordinal_intervals(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    prefix: str = "test/",
) -> dict[str, float]:
    """``_ci_low|high`` for ``kappa_quadratic``, ``mae`` and ``accuracy_within_1``:
    percentile bootstrap over the test images (the draws of
    :func:`~benchmark.evaluate.bootstrap_intervals`), each resample's confusion matrix
    counted at once."""
    y_true = np.asarray(y_true)
    n, k = probs.shape
    pred = probs.argmax(axis=1)
    grades = np.arange(k)
    distance = np.abs(grades[:, None] - grades[None, :])

    def measure(idx: np.ndarray) -> dict[str, np.ndarray]:
        r = len(idx)
        flat = (np.arange(r)[:, None] * k * k + y_true[idx] * k + pred[idx]).ravel()
        confusion = np.bincount(flat, minlength=r * k * k).reshape(r, k, k).astype(float)
        expected = confusion.sum(axis=2)[:, :, None] * confusion.sum(axis=1)[:, None, :] / n
        observed_cost = (confusion * distance**2).sum(axis=(1, 2))
        expected_cost = (expected * distance**2).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = np.where(expected_cost > 0, 1 - observed_cost / expected_cost, np.nan)
        return {
            "kappa_quadratic": kappa,
            "mae": (confusion * distance).sum(axis=(1, 2)) / n,
            "accuracy_within_1": (confusion * (distance <= 1)).sum(axis=(1, 2)) / n,
        }

    values = resampled(measure, n, resamples=resamples, seed=seed)
    return intervals(values, level=level, prefix=prefix)
