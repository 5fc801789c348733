"""Robustness to corruptions, as MedMNIST-C measures it: the balanced error of one split, and
each corruption's errors relative to a reference model's (``BE`` and ``rBE``).

``BE_c = mean_s E_{s,c} / mean_s E^ref_{s,c}`` compares the errors under corruption ``c``
(averaged over its severities ``s``); ``rBE_c = (mean_s E_{s,c} − E_clean) / (mean_s
E^ref_{s,c} − E^ref_clean)`` compares how much they grow over the clean error; ``be`` and
``rbe`` are their means over the corruptions. The reference scores 1 on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from benchmark.errors import MedbenchError

__all__ = ["balanced_error", "relative_errors"]


def balanced_error(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    task_kind: str,
    thresholds: Mapping[str, float] | None = None,
    classes: Sequence[str] | None = None,
) -> float:
    """1 − balanced accuracy (the mean recall over the classes present in ``labels``).

    ``multiclass`` and ``ordinal``: of the most probable class. ``binary``: positive where
    the positive class's probability (the last column) is at least its threshold (the
    ``thresholds`` entry of ``classes[1]``, else its only entry, else 0.5). ``multilabel``
    (``labels`` N × L, NaN where missing): 1 − the mean over labels of each label's balanced
    accuracy at its threshold (``thresholds[classes[k]]``, else 0.5), missing targets left out
    and labels with none observed left out of the mean.
    """
    labels, probs = np.asarray(labels), np.asarray(probs, float)
    if task_kind in ("multiclass", "ordinal"):
        return 1.0 - _balanced_accuracy(labels.astype(int), probs.argmax(axis=1))
    if task_kind == "binary":
        positive = probs[:, -1] if probs.ndim == 2 else probs
        cut = _binary_threshold(thresholds, classes)
        return 1.0 - _balanced_accuracy(labels.astype(int), (positive >= cut).astype(int))
    if task_kind == "multilabel":
        targets = labels.astype(float)
        if targets.shape != probs.shape or targets.ndim != 2:
            raise MedbenchError(
                f"a multi-label balanced error needs N × L targets and probabilities alike, "
                f"but got {targets.shape} and {probs.shape}."
            )
        cuts = _label_thresholds(thresholds, classes, targets.shape[1])
        scores = []
        for k in range(targets.shape[1]):
            seen = ~np.isnan(targets[:, k])
            if seen.any():
                truth = targets[seen, k].astype(int)
                scores.append(_balanced_accuracy(truth, (probs[seen, k] >= cuts[k]).astype(int)))
        return 1.0 - float(np.mean(scores)) if scores else float("nan")
    raise MedbenchError(
        f"no balanced error for task '{task_kind}': expected binary, multiclass, multilabel "
        f"or ordinal."
    )


GROWTH = 1e-9  # the least growth of the reference's error an rBE divides by


def relative_errors(
    errors: Mapping[str, float | Sequence[float]],
    clean: float,
    reference: Mapping[str, float | Sequence[float]],
    reference_clean: float,
) -> dict[str, float]:
    """MedMNIST-C's ``BE`` and ``rBE`` of a model against a reference model, ready to log:
    ``corrupt/{kind}/be`` and ``corrupt/{kind}/rbe`` for each kind of ``errors``, and
    ``corrupt/be``, ``corrupt/rbe`` (their means over the kinds).

    ``errors`` and ``reference`` map each corruption to its balanced error, either per
    severity (averaged here) or already averaged; ``clean`` and ``reference_clean`` are the
    errors on the clean split. A kind the reference lacks is a :class:`MedbenchError`. Where
    the reference's error is zero, its BE is undefined; where its error does not grow under
    the corruption (at or below its clean error: nothing to divide by, or a ratio whose sign
    flips), its rBE is: those are NaN, and the means are over the kinds where each is
    defined (NaN where none is). :func:`undefined_kinds` names them.
    """
    out: dict[str, float] = {}
    for kind, values in errors.items():
        if kind not in reference:
            raise MedbenchError(
                f"the reference model has no error under corruption '{kind}' (it has "
                f"{sorted(reference)}): evaluate the reference on the same corruptions."
            )
        mine, theirs = _mean(values), _mean(reference[kind])
        growth = theirs - reference_clean
        out[f"corrupt/{kind}/be"] = mine / theirs if theirs > 0 else float("nan")
        out[f"corrupt/{kind}/rbe"] = (mine - clean) / growth if growth > GROWTH else float("nan")
    for name in ("be", "rbe"):
        values = [out[f"corrupt/{k}/{name}"] for k in errors]
        defined = [v for v in values if not np.isnan(v)]
        out[f"corrupt/{name}"] = float(np.mean(defined)) if defined else float("nan")
    return out


def undefined_kinds(relative: Mapping[str, float]) -> list[str]:
    """The corruptions whose BE or rBE :func:`relative_errors` left undefined (NaN)."""
    return sorted({key.split("/")[1] for key, value in relative.items()
                   if key.count("/") == 2 and np.isnan(value)})  # fmt: skip


def _mean(values: float | Sequence[float]) -> float:
    return float(np.mean(values))


def _balanced_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's ``balanced_accuracy_score`` (the mean recall over the classes in
    ``truth``), without its warnings about predicted classes absent from the truth."""
    present = np.unique(truth)
    if len(present) == 0:
        return float("nan")
    return float(np.mean([np.mean(pred[truth == c] == c) for c in present]))


def _binary_threshold(thresholds: Mapping[str, float] | None, classes: Sequence[str] | None):
    if not thresholds:
        return 0.5
    if classes is not None and len(classes) > 1 and classes[1] in thresholds:
        return float(thresholds[classes[1]])
    return float(next(iter(thresholds.values())))


def _label_thresholds(
    thresholds: Mapping[str, float] | None, classes: Sequence[str] | None, count: int
) -> list[float]:
    if not thresholds:
        return [0.5] * count
    if classes is None or len(classes) != count:
        raise MedbenchError(
            f"per-label thresholds need the {count} label names in order (classes=...), but "
            f"got {None if classes is None else len(classes)}."
        )
    return [float(thresholds.get(name, 0.5)) for name in classes]
