"""Metrics on held-out predictions; scikit-learn does the arithmetic (ECE by hand)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

__all__ = ["Evaluation", "confusion_figure", "evaluate", "expected_calibration_error", "score"]


@dataclass(frozen=True)
class Evaluation:
    """Everything measured on one split: flat metrics, confusion matrix, report, predictions."""

    metrics: dict[str, float]
    confusion: np.ndarray
    report: dict[str, Any]
    predictions: pd.DataFrame
    notes: tuple[str, ...] = ()  # what a reader should know: e.g. labels left out of the means


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The two validation numbers tracked every epoch."""
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1_weighted": float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }


def evaluate(
    y_true: np.ndarray,
    probs: np.ndarray,
    *,
    classes: list[str],
    ids: list[str],
    prefix: str = "test/",
    y_pred: np.ndarray | None = None,
) -> Evaluation:
    """Score class probabilities ``probs`` (N × K) against integer labels ``y_true``.

    The decision is the most probable class unless ``y_pred`` gives another (a binary
    task's operating point); the threshold-free metrics (log loss, AUROC, ECE) read ``probs``.
    """
    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1) if y_pred is None else np.asarray(y_pred)
    labels = list(range(len(classes)))
    m: dict[str, float] = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    for avg in ("weighted", "macro"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0
        )
        m |= {f"precision_{avg}": p, f"recall_{avg}": r, f"f1_{avg}": f}
    with warnings.catch_warnings():  # a single class in y_true and y_pred is legal here
        warnings.simplefilter("ignore", UserWarning)
        m["balanced_accuracy"] = skm.balanced_accuracy_score(y_true, y_pred)
        m["mcc"] = skm.matthews_corrcoef(y_true, y_pred)
        m["kappa"] = skm.cohen_kappa_score(y_true, y_pred, labels=labels)
    m["log_loss"] = skm.log_loss(y_true, np.clip(probs, 1e-15, 1.0), labels=labels)
    m["ece"] = expected_calibration_error(y_true, probs)
    present = np.unique(y_true)
    if len(present) == len(classes):  # AUROC needs every class among the true labels
        if len(classes) == 2:
            m["auroc_macro"] = skm.roc_auc_score(y_true, probs[:, 1])
        else:
            m["auroc_macro"] = skm.roc_auc_score(
                y_true, probs, multi_class="ovr", average="macro", labels=labels
            )
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    confusion = skm.confusion_matrix(y_true, y_pred, labels=labels)
    for k, name in enumerate(classes):
        negatives = confusion.sum() - confusion[k].sum()
        false_pos = confusion[:, k].sum() - confusion[k, k]
        m |= {
            f"{name}/precision": p[k],
            f"{name}/recall": r[k],
            f"{name}/f1": f[k],
            f"{name}/support": s[k],
            f"{name}/sensitivity": r[k],
            f"{name}/specificity": (negatives - false_pos) / negatives if negatives else np.nan,
        }
        positive = y_true == k
        if 0 < positive.sum() < len(y_true):
            m[f"{name}/auroc"] = skm.roc_auc_score(positive, probs[:, k])
    report = skm.classification_report(
        y_true, y_pred, labels=labels, target_names=classes, output_dict=True, zero_division=0
    )
    predictions = pd.DataFrame(
        {
            "id": ids,
            "true": [classes[i] for i in y_true],
            "pred": [classes[i] for i in y_pred],
            "confidence": probs[np.arange(len(y_pred)), y_pred],  # of the class predicted
            **{f"p_{name}": probs[:, k] for k, name in enumerate(classes)},
        }
    )
    return Evaluation(
        metrics={f"{prefix}{k}": float(v) for k, v in m.items()},
        confusion=confusion,
        report=report,
        predictions=predictions,
    )


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> float:
    """Expected calibration error: |accuracy − confidence| per equal-width confidence bin,
    weighted by the bin's share of the images."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def confusion_figure(confusion: np.ndarray, classes: list[str], *, title: str = ""):
    """A matplotlib figure of the confusion matrix (counts), for reports and artifacts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 2.0 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    skm.ConfusionMatrixDisplay(confusion, display_labels=classes).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45
    )
    ax.set_title(title)
    fig.tight_layout()
    return fig
