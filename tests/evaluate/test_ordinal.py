from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.evaluate import evaluate, evaluate_ordinal, ordinal_intervals, ordinal_metrics

GRADES = ["G0", "G1", "G2", "G3", "G4"]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 150)
    logits = rng.normal(size=(150, 5)) - 0.8 * np.abs(np.arange(5)[None, :] - y[:, None])
    return y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def test_ordinal_metrics_match_scikit_learn(predictions):
    y, probs = predictions
    pred = probs.argmax(1)
    m = ordinal_metrics(y, probs)
    assert m["kappa_quadratic"] == skm.cohen_kappa_score(y, pred, weights="quadratic")
    assert m["mae"] == skm.mean_absolute_error(y, pred)
    assert m["accuracy_within_1"] == np.mean(np.abs(pred - y) <= 1)
    assert ordinal_metrics(y, pred) == m  # predicted grades work as well as probabilities


def test_evaluate_ordinal_adds_to_the_multiclass_metrics(predictions):
    y, probs = predictions
    result = evaluate_ordinal(y, probs, classes=GRADES, ids=[""] * len(y))
    plain = evaluate(y, probs, classes=GRADES, ids=[""] * len(y)).metrics
    assert {k: result.metrics[k] for k in plain} == plain
    assert set(result.metrics) - set(plain) == {
        "test/kappa_quadratic", "test/mae", "test/accuracy_within_1"
    }  # fmt: skip


def test_kappa_is_left_out_where_undefined():
    m = ordinal_metrics(np.array([2, 2, 2]), np.array([2, 2, 2]))
    assert m == {"mae": 0.0, "accuracy_within_1": 1.0}


def test_intervals_match_scikit_learn_on_the_same_resamples(predictions):
    y, probs = predictions
    resamples, seed = 40, 3
    ci = ordinal_intervals(y, probs, resamples=resamples, seed=seed, level=0.9)
    idx = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    pred = probs.argmax(1)
    reference = {
        "kappa_quadratic": [skm.cohen_kappa_score(y[i], pred[i], weights="quadratic") for i in idx],
        "mae": [skm.mean_absolute_error(y[i], pred[i]) for i in idx],
        "accuracy_within_1": [np.mean(np.abs(pred[i] - y[i]) <= 1) for i in idx],
    }
    for name, values in reference.items():
        low, high = np.percentile(values, [5, 95])
        assert ci[f"test/{name}_ci_low"] == pytest.approx(low), name
        assert ci[f"test/{name}_ci_high"] == pytest.approx(high), name
