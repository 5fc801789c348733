"""Comparing models on one test split: paired McNemar tests (errors) and AUROC tests
(DeLong's for one binary label, a paired bootstrap for multi-label) with Holm's correction,
and which test images several models get wrong (error overlap)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2, norm, rankdata
from sklearn import metrics as skm

from benchmark.errors import DataError
from benchmark.evaluate._bootstrap import resample_weights, resampled
from benchmark.evaluate._weighted import SortedScores

__all__ = [
    "delong_test",
    "error_overlap",
    "holm",
    "mcnemar",
    "overlap_figure",
    "paired_auroc_tests",
    "paired_tests",
]

_EXACT_BELOW = 25  # discordant pairs under which the exact binomial test is used


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """Two-sided p-value that models A and B err equally often on the same images.

    Exact (binomial) for fewer than 25 discordant images, else chi-square with continuity
    correction.
    """
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    if discordant < _EXACT_BELOW:
        return float(binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return float(chi2.sf(statistic, df=1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), input order."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def paired_tests(correct: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjusted McNemar p-values between every two columns (models) of ``correct``
    (rows: test images, values: whether the model got the image right)."""
    columns = {name: correct[name].to_numpy() for name in correct.columns}
    return _holm_matrix(list(correct.columns), lambda a, b: mcnemar(columns[a], columns[b]))


def delong_test(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray) -> float:
    """Two-sided p-value that two models' AUROCs on the same images are equal: DeLong's test
    (DeLong, DeLong & Clarke-Pearson 1988) through the midrank algorithm of Sun & Xu (2014).

    ``y``: 0/1 (or bool) truth; ``p_a``, ``p_b``: each model's positive-class scores. 1.0
    where the difference's variance is zero (nothing to measure it by).
    """
    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise DataError(
            f"DeLong's test needs positive and negative test images, but got {m} positive and "
            f"{n} negative: compare AUROCs on a test split holding both classes."
        )
    scores = np.stack([np.asarray(p_a, float), np.asarray(p_b, float)])
    pos, neg = scores[:, y], scores[:, ~y]
    tx, ty = rankdata(pos, axis=1), rankdata(neg, axis=1)  # midranks within each class
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # and among all
    auroc = tz[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v01 = (tz[:, :m] - tx) / n  # per positive: the share of negatives scored below it
    v10 = 1 - (tz[:, m:] - ty) / m  # per negative: the share of positives scored above it
    cov = _cov(v01) / m + _cov(v10) / n
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    if not variance > 0:
        return 1.0
    return float(2 * norm.sf(abs(auroc[0] - auroc[1]) / np.sqrt(variance)))


def _cov(v: np.ndarray) -> np.ndarray:
    return np.cov(v) if v.shape[1] > 1 else np.zeros((len(v), len(v)))


def paired_auroc_tests(
    targets: np.ndarray,
    probs: Mapping[str, np.ndarray],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Holm-adjusted p-values that two models' AUROCs are equal, between every two models
    (``probs``: model name → its scores on the same test images), as a symmetric matrix.

    One binary label (``targets`` 1-D 0/1; scores 1-D, or N × 2 of which column 1 is the
    positive class): DeLong's test (:func:`delong_test`). Multi-label (``targets`` N × L,
    NaN for missing; scores N × L): a paired bootstrap of the macro-AUROC difference — the
    same resamples of the images for every model, the macro over the labels with both
    classes in the test split (and in the resample) — whose z = observed difference /
    the resampled differences' standard deviation gives a normal two-sided p (as pROC's
    bootstrap test).
    """
    targets = np.asarray(targets, float)
    names = list(probs)
    if targets.ndim == 1:
        y = targets == 1
        scores = {k: (v[:, 1] if np.ndim(v) == 2 else np.asarray(v)) for k, v in probs.items()}
        return _holm_matrix(names, lambda a, b: delong_test(y, scores[a], scores[b]))
    observed, resampled_macro = _macro_aurocs(targets, probs, resamples=resamples, seed=seed)

    def test(a: str, b: str) -> float:
        empty = np.array([])
        difference = resampled_macro.get(a, empty) - resampled_macro.get(b, empty)
        difference = difference[np.isfinite(difference)]
        spread = difference.std(ddof=1) if len(difference) > 1 else 0.0
        if not spread > 0:
            return 1.0
        return float(2 * norm.sf(abs(observed[a] - observed[b]) / spread))

    return _holm_matrix(names, test)


def _macro_aurocs(
    targets: np.ndarray, probs: Mapping[str, np.ndarray], *, resamples: int, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each model's macro AUROC on the test split and on every resample of it."""
    seen, present = ~np.isnan(targets), targets == 1
    positives = (present & seen).sum(axis=0)
    scored = [k for k in range(targets.shape[1]) if 0 < positives[k] < seen[:, k].sum()]
    if not scored:
        raise DataError(
            "no label has both positive and negative test images, so no AUROC to compare: "
            "compare models on a test split where some label holds both."
        )
    n, rows = len(targets), np.arange(len(targets))
    observed, ranked = {}, {}
    for name, p in probs.items():
        p = np.asarray(p, float)
        columns = [(present[seen[:, k], k], p[seen[:, k], k], rows[seen[:, k]]) for k in scored]
        observed[name] = float(np.mean([skm.roc_auc_score(y, s) for y, s, _ in columns]))
        ranked[name] = [SortedScores(y, s, r, n) for y, s, r in columns]

    def measure(idx: np.ndarray) -> dict[str, np.ndarray]:
        weights = resample_weights(idx, n)
        out = {}
        for name, labels in ranked.items():
            aurocs = np.stack([r.auroc(weights) for r in labels])
            finite = np.isfinite(aurocs)
            with np.errstate(invalid="ignore"):
                out[name] = np.where(finite, aurocs, 0).sum(axis=0) / finite.sum(axis=0)
        return out

    values = resampled(measure, n, resamples=resamples, seed=seed, width=len(scored))
    return observed, values


def _holm_matrix(names: list[str], test: Callable[[str, str], float]) -> pd.DataFrame:
    """A symmetric matrix of Holm-adjusted ``test(a, b)`` p-values, 1 on the diagonal."""
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    raw = [test(names[i], names[j]) for i, j in pairs]
    matrix = pd.DataFrame(1.0, index=names, columns=names)
    for (i, j), p in zip(pairs, holm(raw), strict=True):
        matrix.iloc[i, j] = matrix.iloc[j, i] = p
    return matrix


def error_overlap(correct: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per test image, the models that got it wrong; and how many images ``k`` models miss."""
    wrong = ~correct.astype(bool)
    per_image = pd.DataFrame(
        {
            "id": correct.index,
            "wrong_count": wrong.sum(axis=1).to_numpy(),
            "wrong_by": [";".join(wrong.columns[row]) for row in wrong.to_numpy()],
        }
    )
    counts = per_image["wrong_count"].value_counts()
    n_models = correct.shape[1]
    summary = {f"wrong_in_{k}": int(counts.get(k, 0)) for k in range(n_models + 1)}
    summary |= {
        "wrong_in_all": summary[f"wrong_in_{n_models}"],
        "wrong_in_exactly_one": summary["wrong_in_1"],
    }
    return per_image, summary


def overlap_figure(summary: dict[str, int], *, n_models: int, title: str = ""):
    """Bar chart: test images by the number of models that misclassify them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(range(1, n_models + 1))
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * n_models, 3))
    ax.bar([str(k) for k in ks], [summary[f"wrong_in_{k}"] for k in ks], color="tab:red")
    ax.set_xlabel("models that misclassify the image")
    ax.set_ylabel("test images")
    ax.set_title(title)
    fig.tight_layout()
    return fig
