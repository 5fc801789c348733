from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.errors import MedbenchError
from benchmark.evaluate import binary_intervals, evaluate, evaluate_binary

CLASSES = ["benign", "cancer"]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=200) + 2.0 * y - 1.0)))
    return y, np.stack([1 - p, p], 1)


def test_every_metric_is_at_the_operating_point(predictions):
    y, probs = predictions
    t = 0.3
    pred = (probs[:, 1] >= t).astype(int)
    assert (pred != probs.argmax(1)).any()  # the threshold changes decisions
    result = evaluate_binary(y, probs, classes=CLASSES, ids=[""] * len(y), threshold=t)
    m = result.metrics
    assert m["test/accuracy"] == skm.accuracy_score(y, pred)
    assert m["test/f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["test/f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["test/mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["test/auroc"] == m["test/auroc_macro"] == skm.roc_auc_score(y, probs[:, 1])
    assert m["test/average_precision"] == skm.average_precision_score(y, probs[:, 1])
    assert m["test/threshold"] == t
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["test/sensitivity"] == tp / (tp + fn) == m["test/cancer/sensitivity"]
    assert m["test/specificity"] == tn / (tn + fp) == m["test/cancer/specificity"]
    assert m["test/ppv"] == tp / (tp + fp)
    assert m["test/npv"] == tn / (tn + fn)
    assert m["test/log_loss"] == pytest.approx(skm.log_loss(y, probs))
    assert (result.confusion == skm.confusion_matrix(y, pred)).all()
    assert (result.predictions["pred"] == np.array(CLASSES)[pred]).all()
    expected_confidence = np.where(pred == 1, probs[:, 1], probs[:, 0])
    assert np.allclose(result.predictions["confidence"], expected_confidence)


def test_at_one_half_it_is_the_multiclass_evaluation(predictions):
    y, probs = predictions
    binary = evaluate_binary(y, probs, classes=CLASSES, ids=[""] * len(y), threshold=0.5)
    plain = evaluate(y, probs, classes=CLASSES, ids=[""] * len(y)).metrics
    assert {k: binary.metrics[k] for k in plain} == pytest.approx(plain)


def test_undefined_ratios_are_left_out(predictions):
    y, probs = predictions
    negatives = y == 0
    m = evaluate_binary(
        y[negatives], probs[negatives], classes=CLASSES, ids=[""] * negatives.sum(), threshold=2.0
    ).metrics
    assert m["test/specificity"] == 1.0 and m["test/npv"] == 1.0
    for key in ("sensitivity", "ppv", "auroc", "auroc_macro", "average_precision"):
        assert f"test/{key}" not in m
    assert m["test/threshold"] == 2.0 and m["test/accuracy"] == 1.0


def test_two_classes_are_required(predictions):
    y, probs = predictions
    with pytest.raises(MedbenchError, match="two classes"):
        evaluate_binary(y, probs, classes=["a", "b", "c"], ids=[""] * len(y), threshold=0.5)


def test_intervals_match_scikit_learn_on_the_same_resamples(predictions):
    y, probs = predictions
    t, resamples, seed = 0.4, 40, 2
    ci = binary_intervals(y, probs, threshold=t, resamples=resamples, seed=seed, level=0.9)
    idx = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    p = probs[:, 1]

    def ratio(num, den):
        return [num(i) / den(i) for i in idx if den(i)]

    pred = p >= t
    reference = {
        "accuracy": [skm.accuracy_score(y[i], pred[i]) for i in idx],
        "f1_weighted": [skm.f1_score(y[i], pred[i], average="weighted") for i in idx],
        "f1_macro": [skm.f1_score(y[i], pred[i], average="macro") for i in idx],
        "auroc": [skm.roc_auc_score(y[i], p[i]) for i in idx],
        "average_precision": [skm.average_precision_score(y[i], p[i]) for i in idx],
        "sensitivity": ratio(lambda i: (pred[i] & (y[i] == 1)).sum(), lambda i: y[i].sum()),
        "specificity": ratio(lambda i: (~pred[i] & (y[i] == 0)).sum(), lambda i: (y[i] == 0).sum()),
        "ppv": ratio(lambda i: (pred[i] & (y[i] == 1)).sum(), lambda i: pred[i].sum()),
        "npv": ratio(lambda i: (~pred[i] & (y[i] == 0)).sum(), lambda i: (~pred[i]).sum()),
    }
    for name, values in reference.items():
        low, high = np.percentile(values, [5, 95])
        assert ci[f"test/{name}_ci_low"] == pytest.approx(low), name
        assert ci[f"test/{name}_ci_high"] == pytest.approx(high), name
    assert "test/threshold_ci_low" not in ci


def test_intervals_leave_out_undefined_resamples():
    y = np.array([1] + [0] * 29)  # one positive: often not drawn
    p = np.linspace(0, 1, 30)
    ci = binary_intervals(y, np.stack([1 - p, p], 1), threshold=0.5, resamples=50, seed=0)
    assert np.isfinite(list(ci.values())).all()
    assert "test/auroc_ci_low" in ci and "test/sensitivity_ci_high" in ci
