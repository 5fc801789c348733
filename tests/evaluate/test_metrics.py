from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from benchmark.evaluate import (
    bootstrap_intervals,
    error_overlap,
    evaluate,
    expected_calibration_error,
    holm,
    mcnemar,
    paired_tests,
    score,
)

CLASSES = ["a", "b", "c"]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 2.0 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probs


def test_metrics_match_scikit_learn(predictions):
    y, probs = predictions
    pred = probs.argmax(1)
    result = evaluate(y, probs, classes=CLASSES, ids=[str(i) for i in range(200)])
    m = result.metrics
    assert m["test/accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["test/f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["test/f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["test/balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["test/mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["test/auroc_macro"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert m["test/b/recall"] == pytest.approx(skm.recall_score(y, pred, average=None)[1])
    assert m["test/c/support"] == (y == 2).sum()
    assert result.confusion.sum() == 200
    assert list(result.predictions.columns[:4]) == ["id", "true", "pred", "confidence"]
    assert result.report["a"]["support"] == (y == 0).sum()
    assert 0.6 < m["test/accuracy"] < 1.0  # not a degenerate fixture


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_auroc_is_left_out_when_a_class_is_absent(predictions):
    y, probs = predictions
    keep = y != 2
    result = evaluate(y[keep], probs[keep], classes=CLASSES, ids=[""] * keep.sum())
    assert "test/auroc_macro" not in result.metrics
    assert result.metrics["test/c/support"] == 0


def test_score_for_validation():
    assert score(np.array([0, 1, 1]), np.array([0, 1, 0]))["accuracy"] == pytest.approx(2 / 3)


def test_added_metrics_match_scikit_learn_and_hand_computation(predictions):
    y, probs = predictions
    pred = probs.argmax(1)
    m = evaluate(y, probs, classes=CLASSES, ids=[""] * len(y)).metrics
    assert m["test/kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert m["test/log_loss"] == pytest.approx(skm.log_loss(y, probs))
    for k, name in enumerate(CLASSES):
        assert m[f"test/{name}/auroc"] == pytest.approx(skm.roc_auc_score(y == k, probs[:, k]))
        tn = ((y != k) & (pred != k)).sum()
        assert m[f"test/{name}/specificity"] == pytest.approx(tn / (y != k).sum())
        assert m[f"test/{name}/sensitivity"] == pytest.approx(skm.recall_score(y == k, pred == k))


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 1, 0])
    # bins of width 1/15: confidences 0.9, 0.8, 0.7, 0.55 fall in four different bins;
    # correct: yes, no, yes, no → |1-0.9| + |0-0.8| + |1-0.7| + |0-0.55|, each weight 1/4
    assert expected_calibration_error(y, probs) == pytest.approx((0.1 + 0.8 + 0.3 + 0.55) / 4)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(np.array([0, 1]), perfect) == 0.0


def test_bootstrap_matches_scikit_learn_on_the_same_resamples(predictions):
    y, probs = predictions
    resamples, seed = 40, 5
    ci = bootstrap_intervals(y, probs, resamples=resamples, seed=seed, level=0.9)
    idx = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    reference = {
        "accuracy": [skm.accuracy_score(y[i], probs[i].argmax(1)) for i in idx],
        "f1_weighted": [skm.f1_score(y[i], probs[i].argmax(1), average="weighted") for i in idx],
        "f1_macro": [skm.f1_score(y[i], probs[i].argmax(1), average="macro") for i in idx],
        "auroc_macro": [skm.roc_auc_score(y[i], probs[i], multi_class="ovr") for i in idx],
    }
    for name, values in reference.items():
        low, high = np.percentile(values, [5, 95])
        assert ci[f"test/{name}_ci_low"] == pytest.approx(low)
        assert ci[f"test/{name}_ci_high"] == pytest.approx(high)
    point = evaluate(y, probs, classes=CLASSES, ids=[""] * len(y)).metrics["test/accuracy"]
    assert ci["test/accuracy_ci_low"] < point < ci["test/accuracy_ci_high"]


def test_mcnemar_exact_and_asymptotic():
    from scipy.stats import binomtest, chi2

    a = np.array([True] * 10 + [False] * 2 + [True] * 30)
    b = np.array([False] * 10 + [True] * 2 + [True] * 30)
    assert mcnemar(a, b) == pytest.approx(binomtest(2, 12, 0.5).pvalue)  # 12 discordant: exact
    a = np.array([True] * 30 + [False] * 10)
    b = np.array([False] * 30 + [True] * 10)
    assert mcnemar(a, b) == pytest.approx(chi2.sf((abs(30 - 10) - 1) ** 2 / 40, 1))
    assert mcnemar(a, a) == 1.0


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_tests_and_error_overlap():
    correct = pd.DataFrame(
        {"a": [1, 1, 1, 1, 0, 1], "b": [1, 0, 1, 1, 0, 1], "c": [0, 0, 0, 1, 0, 0]},
        index=list("uvwxyz"),
    ).astype(bool)
    matrix = paired_tests(correct)
    assert matrix.shape == (3, 3) and (np.diag(matrix) == 1).all()
    assert matrix.loc["a", "c"] == matrix.loc["c", "a"] <= 1.0
    per_image, counts = error_overlap(correct)
    assert counts["wrong_in_all"] == 1 and counts["wrong_in_exactly_one"] == 3
    assert counts["wrong_in_2"] == 1 and counts["wrong_in_0"] == 1
    assert per_image.set_index("id").loc["y", "wrong_by"] == "a;b;c"
