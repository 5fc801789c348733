"""Multi-label metrics: L labels scored independently (sigmoid probabilities, one threshold
per label), missing targets (NaN) masked out everywhere.

The means (macro and micro) run over the labels *scored*: those with at least one positive
and one negative observed in the split. A label left out is named in the evaluation's notes,
never a NaN in a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn import metrics as skm

from benchmark.errors import MedbenchError
from benchmark.evaluate._binary import operating_point
from benchmark.evaluate._bootstrap import intervals, resample_weights, resampled
from benchmark.evaluate._metrics import Evaluation
from benchmark.evaluate._weighted import SortedScores

__all__ = ["evaluate_multilabel", "label_ece", "multilabel_intervals", "multilabel_val_scores"]


def evaluate_multilabel(
    targets: np.ndarray,
    probs: np.ndarray,
    *,
    labels: Sequence[str],
    ids: Sequence[str],
    thresholds: Sequence[float],
    prefix: str = "test/",
) -> Evaluation:
    """Score ``probs`` (N × L) against ``targets`` (N × L: 1 present, 0 absent, NaN missing)
    at one threshold per label (positive where ``p >= threshold``).

    ``confusion`` is L × 2 × 2 (``[[tn, fp], [fn, tp]]`` per label, observed entries); the
    predictions name the present labels (``true``), those at or above their threshold
    (``pred``, whether or not the target is observed) and the missing ones (``missing``),
    each joined with ``|``, beside one ``p_<label>`` column per label.
    """
    targets, probs = np.asarray(targets, float), np.asarray(probs, float)
    cut = np.asarray(thresholds, float)
    shape = (len(ids), len(labels))
    if not (targets.shape == probs.shape == shape and cut.shape == (len(labels),)):
        raise MedbenchError(
            f"a multi-label evaluation needs N × L targets and probabilities and L thresholds "
            f"(N = {len(ids)} ids, L = {len(labels)} labels), but got targets {targets.shape}, "
            f"probabilities {probs.shape} and {cut.size} thresholds."
        )
    seen, present, decision = ~np.isnan(targets), targets == 1, probs >= cut
    m: dict[str, float] = {}
    report: dict[str, Any] = {}
    notes: list[str] = []
    confusion = np.zeros((len(labels), 2, 2), dtype=int)
    scored: list[int] = []
    for k, name in enumerate(labels):
        y, p, d = present[seen[:, k], k], probs[seen[:, k], k], decision[seen[:, k], k]
        n_pos, n_obs = int(y.sum()), len(y)
        per: dict[str, float] = {"threshold": float(cut[k]), "support": n_pos}
        if n_obs:
            per |= {"prevalence": n_pos / n_obs, "ece": label_ece(y, p)}
        rates = operating_point(y, d)
        per |= {key: rates[key] for key in ("sensitivity", "specificity") if key in rates}
        if 0 < n_pos < n_obs:
            scored.append(k)
            per |= {
                "auroc": skm.roc_auc_score(y, p),
                "average_precision": skm.average_precision_score(y, p),
                "f1": skm.f1_score(y, d, zero_division=0),
            }
        else:
            notes.append(
                f"label '{name}' left out of the means: {n_pos} positive and "
                f"{n_obs - n_pos} negative among its {n_obs} observed images"
            )
        confusion[k] = skm.confusion_matrix(y, d, labels=[False, True])
        m |= {f"{name}/{key}": v for key, v in per.items()}
        report[name] = per | {"observed": n_obs, "scored": bool(0 < n_pos < n_obs)}
    m |= {"labels_scored": len(scored), "labels_left_out": len(labels) - len(scored)}
    if scored:
        mask = seen[:, scored]
        y, p = present[:, scored][mask], probs[:, scored][mask]
        d = decision[:, scored][mask]
        m |= {
            f"{stat}_macro": float(np.mean([m[f"{labels[k]}/{stat}"] for k in scored]))
            for stat in ("auroc", "average_precision", "f1")
        }
        m |= {
            "auroc_micro": skm.roc_auc_score(y, p),
            "average_precision_micro": skm.average_precision_score(y, p),
            "f1_micro": skm.f1_score(y, d, zero_division=0),
            "ece": float(np.mean([m[f"{labels[k]}/ece"] for k in scored])),
            "accuracy": float(np.mean(y == d)),
        }
    predictions = pd.DataFrame(
        {
            "id": list(ids),
            "true": _joined(present & seen, labels),
            "pred": _joined(decision, labels),
            "missing": _joined(~seen, labels),
            **{f"p_{name}": probs[:, k] for k, name in enumerate(labels)},
        }
    )
    return Evaluation(
        metrics={f"{prefix}{k}": float(v) for k, v in m.items()},
        confusion=confusion,
        report=report,
        predictions=predictions,
        notes=tuple(notes),
    )


def multilabel_intervals(
    targets: np.ndarray,
    probs: np.ndarray,
    *,
    labels: Sequence[str],
    thresholds: Sequence[float],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    prefix: str = "test/",
    threads: int | None = None,
) -> dict[str, float]:
    """``_ci_low|high`` of ``auroc_macro``, ``auroc_micro``, ``average_precision_macro``,
    ``f1_macro``, ``f1_micro`` and each scored label's ``{label}/auroc``.

    Percentile bootstrap over the test images (an image's labels stay together), seeded. A
    resample's means run over the scored labels that still hold both classes in it; a label's
    own interval leaves out the resamples where its AUROC is undefined. Each label's scores
    are sorted once and every resample read off them (:class:`SortedScores`), so 1,000
    resamples of tens of thousands of images take seconds (``threads``: the threads measuring
    the resamples, by default up to 4 of the cores this process may use).
    """
    targets, probs = np.asarray(targets, float), np.asarray(probs, float)
    seen, present = ~np.isnan(targets), targets == 1
    n = len(targets)
    scored = _scored(seen, present)
    if not scored or resamples < 1:
        return {}
    rows = np.arange(n)
    ranked = [
        SortedScores(present[seen[:, k], k], probs[seen[:, k], k], rows[seen[:, k]], n)
        for k in scored
    ]
    mask = seen[:, scored]
    flat_rows = np.broadcast_to(rows[:, None], mask.shape)[mask]
    micro = SortedScores(present[:, scored][mask], probs[:, scored][mask], flat_rows, n)
    decision = probs[:, scored] >= np.asarray(thresholds, float)[scored]
    y = present[:, scored]
    cells = np.concatenate([y & decision & mask, ~y & decision & mask, y & ~decision & mask], 1)
    cells = sparse.csr_matrix(cells.T.astype(float))  # 3S × images: where each count comes from

    def measure(idx: np.ndarray) -> dict[str, np.ndarray]:
        weights = resample_weights(idx, n)
        tp, fp, fn = np.split(cells @ weights, 3)  # each S × resamples
        per_label = [r.auroc_ap(weights) for r in ranked]
        aurocs = np.stack([a for a, _ in per_label], 1)
        values = {
            "auroc_macro": _mean_defined(aurocs),
            "auroc_micro": micro.auroc(weights),
            "average_precision_macro": _mean_defined(np.stack([ap for _, ap in per_label], 1)),
            "f1_macro": _f1(tp, fp, fn).mean(axis=0),
            "f1_micro": _f1(tp.sum(0), fp.sum(0), fn.sum(0)),
        }
        return values | {f"{labels[k]}/auroc": aurocs[:, j] for j, k in enumerate(scored)}

    values = resampled(
        measure, n, resamples=resamples, seed=seed, width=len(scored), threads=threads
    )
    return intervals(values, level=level, prefix=prefix)


def multilabel_val_scores(targets: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """The validation numbers tracked every epoch, at 0.5, over observed entries: label-wise
    ``accuracy``, ``f1_weighted`` (each label's F1 weighted by its positives) and
    ``auroc_macro`` over the labels with both classes (NaN when none has: a monitor that
    never improves, never a missing key)."""
    targets, probs = np.asarray(targets, float), np.asarray(probs, float)
    seen, present, decision = ~np.isnan(targets), targets == 1, probs >= 0.5
    out = {"accuracy": float(np.mean(present[seen] == decision[seen])) if seen.any() else 0.0}
    f1s, supports, aurocs = [], [], []
    for k in range(targets.shape[1]):
        y, p, d = present[seen[:, k], k], probs[seen[:, k], k], decision[seen[:, k], k]
        f1s.append(skm.f1_score(y, d, zero_division=0) if len(y) else 0.0)
        supports.append(int(y.sum()))
        if 0 < y.sum() < len(y):
            aurocs.append(skm.roc_auc_score(y, p))
    total = sum(supports)
    out["f1_weighted"] = float(np.dot(f1s, supports) / total) if total else 0.0
    out["auroc_macro"] = float(np.mean(aurocs)) if aurocs else float("nan")
    return out


def label_ece(y: np.ndarray, p: np.ndarray, *, bins: int = 15) -> float:
    """One label's expected calibration error: |observed frequency − mean probability| per
    equal-width bin of the probability, weighted by the bin's share of the images."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if not len(y):
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    gap = np.bincount(which, weights=y - p, minlength=bins)  # per bin: Σ y − Σ p
    return float(np.abs(gap).sum() / len(y))


def _scored(seen: np.ndarray, present: np.ndarray) -> list[int]:
    """The labels with at least one positive and one negative observed."""
    positives = (present & seen).sum(axis=0)
    return [k for k in range(seen.shape[1]) if 0 < positives[k] < seen[:, k].sum()]


def _mean_defined(values: np.ndarray) -> np.ndarray:
    """Row means over the finite entries (NaN where none is)."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        return np.where(finite, values, 0.0).sum(axis=1) / finite.sum(axis=1)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    total = 2 * tp + fp + fn
    return np.divide(2 * tp, total, out=np.zeros_like(total, dtype=float), where=total > 0)


def _joined(mask: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Per row, the labels where ``mask`` holds, in label order, joined with ``|``."""
    if not len(mask):
        return []
    packed = np.packbits(mask, axis=1)  # a row's bits as bytes: its distinct patterns are few
    _, first, which = np.unique(
        packed.view(f"V{packed.shape[1]}").ravel(), return_index=True, return_inverse=True
    )
    names = np.array(["|".join(labels[int(k)] for k in np.flatnonzero(mask[i])) for i in first])
    return names[which.ravel()].tolist()
