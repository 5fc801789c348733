"""Comparing AUROCs: DeLong's test (one binary label) and the paired bootstrap (multi-label)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn import metrics as skm

from benchmark.errors import DataError
from benchmark.evaluate import delong_test, holm, paired_auroc_tests


def scores(rng, y, strength):
    return 1 / (1 + np.exp(-(rng.normal(size=len(y)) + strength * y)))


@pytest.fixture
def two_models():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.35
    return y, scores(rng, y, 1.6), scores(rng, y, 1.0)


def test_delong_by_its_definition_on_a_small_case():
    """The structural components by hand (pairwise comparisons), against the fast midranks."""
    rng = np.random.default_rng(1)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], bool)
    a = np.round(rng.random(10), 1)  # ties included
    b = rng.random(10)

    def components(s):
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components(a), components(b)
    assert auc_a == pytest.approx(skm.roc_auc_score(y, a))
    m, n = y.sum(), (~y).sum()
    variance = (
        np.var(v10_a - v10_b, ddof=1) / m + np.var(v01_a - v01_b, ddof=1) / n
    )  # var(A - B) of the structural components
    expected = 2 * norm.sf(abs(auc_a - auc_b) / np.sqrt(variance))
    assert delong_test(y, a, b) == pytest.approx(expected)


def test_delong_agrees_with_a_paired_bootstrap(two_models):
    y, a, b = two_models
    assert skm.roc_auc_score(y, a) > skm.roc_auc_score(y, b) + 0.05
    p_delong = delong_test(y, a, b)
    # the same comparison as a one-label multi-label problem: the paired bootstrap
    targets = y[:, None].astype(float)
    matrix = paired_auroc_tests(targets, {"a": a[:, None], "b": b[:, None]}, resamples=2000)
    p_bootstrap = matrix.loc["a", "b"]
    assert p_delong < 0.05 and p_bootstrap < 0.05  # the same verdict
    assert np.log10(p_bootstrap) == pytest.approx(np.log10(p_delong), abs=0.5)
    assert delong_test(y, a, b) == delong_test(y, b, a)  # two-sided


def test_delong_on_equal_models_and_degenerate_inputs(two_models):
    y, a, _ = two_models
    assert delong_test(y, a, a) == 1.0
    assert delong_test(y, a, a + 0.01) == 1.0  # the same ranking
    with pytest.raises(DataError, match="DeLong's test needs positive and negative"):
        delong_test(np.zeros(5), np.arange(5), np.arange(5))


def test_binary_targets_use_delong_with_holm(two_models):
    y, a, b = two_models
    c = np.random.default_rng(5).random(len(y))  # chance
    matrix = paired_auroc_tests(y.astype(int), {"a": a, "b": b, "c": np.stack([1 - c, c], 1)})
    raw = [delong_test(y, a, b), delong_test(y, a, c), delong_test(y, b, c)]
    adjusted = holm(raw)
    assert matrix.loc["a", "b"] == matrix.loc["b", "a"] == pytest.approx(adjusted[0])
    assert matrix.loc["a", "c"] == pytest.approx(adjusted[1])
    assert matrix.loc["c", "b"] == pytest.approx(adjusted[2])
    assert (np.diag(matrix) == 1).all()


def test_multilabel_targets_use_the_paired_bootstrap():
    rng = np.random.default_rng(2)
    targets = (rng.random((200, 3)) < 0.3).astype(float)
    targets[rng.random((200, 3)) < 0.1] = np.nan
    clean = np.nan_to_num(targets)
    good = 1 / (1 + np.exp(-(rng.normal(size=(200, 3)) + 2.0 * clean)))
    weak = 1 / (1 + np.exp(-(rng.normal(size=(200, 3)) + 0.3 * clean)))
    matrix = paired_auroc_tests(targets, {"good": good, "weak": weak, "same": good}, seed=1)
    assert matrix.loc["good", "weak"] < 0.01
    assert matrix.loc["good", "same"] == 1.0
    assert matrix.shape == (3, 3)
    with pytest.raises(DataError, match="no label has both"):
        paired_auroc_tests(np.zeros((4, 2)), {"a": np.zeros((4, 2)), "b": np.ones((4, 2))})
