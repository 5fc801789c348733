from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.evaluate import evaluate, score

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
