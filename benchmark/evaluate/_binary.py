"""A binary task at its operating point: every multiclass metric at the decision
``p(positive) >= threshold``, and the threshold-free AUROC and average precision."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from benchmark.errors import MedbenchError
from benchmark.evaluate._bootstrap import intervals, resample_weights, resampled
from benchmark.evaluate._metrics import Evaluation, evaluate
from benchmark.evaluate._weighted import SortedScores

__all__ = ["binary_intervals", "evaluate_binary", "operating_point"]


def evaluate_binary(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    classes: list[str],
    ids: list[str],
    threshold: float,
    prefix: str = "test/",
) -> Evaluation:
    """Score ``probs`` (N × 2, the positive class at index 1) against 0/1 ``y_true``.

    Adds ``auroc`` (also as ``auroc_macro``), ``average_precision`` (when both classes are
    present), ``threshold`` and the operating point's ``sensitivity``, ``specificity``,
    ``ppv`` and ``npv`` (each left out when its denominator is empty).
    """
    if len(classes) != 2 or probs.ndim != 2 or probs.shape[1] != 2:
        raise MedbenchError(
            f"a binary evaluation needs two classes and N × 2 probabilities, got classes "
            f"{classes} and probabilities of shape {probs.shape}."
        )
    y_true = np.asarray(y_true).astype(int)
    positive = probs[:, 1]
    decision = positive >= threshold
    result = evaluate(
        y_true, probs, classes=classes, ids=ids, prefix=prefix, y_pred=decision.astype(int)
    )
    m: dict[str, float] = {"threshold": threshold, **operating_point(y_true == 1, decision)}
    if 0 < y_true.sum() < len(y_true):
        m["auroc"] = m["auroc_macro"] = skm.roc_auc_score(y_true, positive)
        m["average_precision"] = skm.average_precision_score(y_true, positive)
    metrics = result.metrics | {f"{prefix}{k}": float(v) for k, v in m.items()}
    return Evaluation(metrics, result.confusion, result.report, result.predictions)


def operating_point(y: np.ndarray, decision: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, PPV and NPV of a decision; each only where defined."""
    y, decision = np.asarray(y, bool), np.asarray(decision, bool)
    tp, fp = int((y & decision).sum()), int((~y & decision).sum())
    fn, tn = int((y & ~decision).sum()), int((~y & ~decision).sum())
    ratios = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    return {name: a / b for name, (a, b) in ratios.items() if b}


def binary_intervals(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    threshold: float,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    prefix: str = "test/",
) -> dict[str, float]:
    """``{prefix}{metric}_ci_low|high`` for accuracy, weighted and macro F1, AUROC,
    sensitivity, specificity, PPV, NPV and average precision at ``threshold``.

    Percentile bootstrap over the test images (seeded, the draws of
    :func:`~benchmark.evaluate.bootstrap_intervals`); a resample where a metric is undefined
    (no positive, say) is left out of that metric's interval.
    """
    y = np.asarray(y_true) == 1
    positive = np.asarray(probs)[:, 1] if np.ndim(probs) == 2 else np.asarray(probs)
    decision = positive >= threshold
    n = len(y)
    ranked = SortedScores(y, positive, np.arange(n), n)
    # columns: true positive, false positive, false negative, true negative
    cells = np.stack([y & decision, ~y & decision, y & ~decision, ~y & ~decision]).astype(float)

    def measure(idx: np.ndarray) -> dict[str, np.ndarray]:
        weights = resample_weights(idx, n)
        tp, fp, fn, tn = cells @ weights
        auroc, ap = ranked.auroc_ap(weights)
        f1_pos = _ratio(2 * tp, 2 * tp + fp + fn, 0.0)
        f1_neg = _ratio(2 * tn, 2 * tn + fn + fp, 0.0)
        return {
            "accuracy": (tp + tn) / n,
            "f1_weighted": (f1_pos * (tp + fn) + f1_neg * (tn + fp)) / n,
            "f1_macro": (f1_pos + f1_neg) / 2,
            "auroc": auroc,
            "sensitivity": _ratio(tp, tp + fn),
            "specificity": _ratio(tn, tn + fp),
            "ppv": _ratio(tp, tp + fp),
            "npv": _ratio(tn, tn + fn),
            "average_precision": ap,
        }

    values = resampled(measure, n, resamples=resamples, seed=seed)
    values["auroc_macro"] = values["auroc"]  # as the metric itself: tables work across tasks
    return intervals(values, level=level, prefix=prefix)


def _ratio(a: np.ndarray, b: np.ndarray, empty: float = np.nan) -> np.ndarray:
    """a / b elementwise, ``empty`` where b is 0."""
    return np.divide(a, b, out=np.full_like(a, empty, dtype=float), where=b > 0)
