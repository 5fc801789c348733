"""Operating points: the decision threshold on a positive-class score, chosen on validation.

A threshold ``t`` decides positive where ``score >= t``; every rule but ``fixed`` returns
one of the validation scores (a point of scikit-learn's ROC or precision–recall curve), so
the decision it makes on validation is exactly the one the rule measured.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from benchmark.errors import MedbenchError

__all__ = ["RULES", "choose_threshold", "choose_thresholds"]

RULES = ("youden", "f1", "sensitivity", "specificity", "fixed")
_UNDECIDED = 0.5  # the threshold when validation holds one class only


def choose_threshold(
    y: np.ndarray, scores: np.ndarray, *, rule: str = "youden", target: float | None = None
) -> float:
    """The threshold ``rule`` picks on validation labels ``y`` (bool) and ``scores``.

    ``youden``: the most sensitivity + specificity − 1 on the ROC curve; ``f1``: the best F1
    on the precision–recall curve; ``sensitivity``: the highest threshold whose sensitivity is
    at least ``target``; ``specificity``: the lowest threshold whose specificity is at least
    ``target``; ``fixed``: ``target`` itself, whatever validation says. Ties go to the higher
    threshold. With one class only (or no images): 0.5.
    """
    _check(rule, target)
    if rule == "fixed":
        assert target is not None
        return float(target)
    y, scores = np.asarray(y, bool), np.asarray(scores, float)
    if y.all() or not y.any():
        return _UNDECIDED
    if rule == "f1":
        precision, recall, thresholds = skm.precision_recall_curve(y, scores)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        best = np.flatnonzero(f1 == f1.max())
        return float(thresholds[best].max())
    fpr, tpr, thresholds = skm.roc_curve(y, scores, drop_intermediate=False)
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]  # drop the +inf point
    if rule == "youden":  # thresholds descend: the first maximum is the highest threshold
        return float(thresholds[np.argmax(tpr - fpr)])
    assert target is not None
    if rule == "sensitivity":  # sensitivity rises as the threshold falls; it ends at 1
        return float(thresholds[np.argmax(tpr >= target - 1e-12)])
    meets = np.flatnonzero(1 - fpr >= target - 1e-12)  # specificity falls as it falls
    if len(meets) == 0:  # even the highest score lets a negative through: call none positive
        return float(np.nextafter(scores.max(), np.inf))
    return float(thresholds[meets[-1]])


def choose_thresholds(
    targets: np.ndarray, probs: np.ndarray, *, rule: str = "youden", target: float | None = None
) -> list[float]:
    """One threshold per label of multi-label ``targets`` (N × L: 1, 0, NaN for missing)
    and ``probs`` (N × L); each label's missing targets are left out."""
    _check(rule, target)
    targets, probs = np.asarray(targets, float), np.asarray(probs, float)
    out = []
    for label in range(targets.shape[1]):
        seen = ~np.isnan(targets[:, label])
        out.append(
            choose_threshold(
                targets[seen, label] == 1, probs[seen, label], rule=rule, target=target
            )
        )
    return out


def _check(rule: str, target: float | None) -> None:
    if rule not in RULES:
        raise MedbenchError(f"unknown threshold rule '{rule}': expected one of {', '.join(RULES)}.")
    needs = rule in ("sensitivity", "specificity", "fixed")
    if needs and (target is None or not 0 < target <= 1):
        raise MedbenchError(
            f"the threshold rule '{rule}' needs a target in (0, 1], got {target}: "
            f"write e.g. threshold: {{{rule}: 0.9}}."
        )
    if not needs and target is not None:
        raise MedbenchError(f"the threshold rule '{rule}' takes no target (got {target}).")
