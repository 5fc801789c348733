"""Comparing models on one test split: paired McNemar tests with Holm's correction, and
which test images several models get wrong (error overlap)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2

__all__ = ["error_overlap", "holm", "mcnemar", "overlap_figure", "paired_tests"]

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
    names = list(correct.columns)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    raw = [mcnemar(correct[names[i]].to_numpy(), correct[names[j]].to_numpy()) for i, j in pairs]
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
