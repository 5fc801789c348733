"""MedMNIST-C's balanced error per task type, and BE / rBE against a reference, on values
worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from benchmark.errors import MedbenchError
from benchmark.evaluate import balanced_error, relative_errors, undefined_kinds


def _onehot(pred: list[int], k: int) -> np.ndarray:
    probs = np.full((len(pred), k), 0.1)
    probs[np.arange(len(pred)), pred] = 0.8
    return probs


def test_multiclass_and_ordinal_error_is_one_minus_the_mean_recall():
    labels = np.array([0, 0, 0, 1, 1, 2])
    probs = _onehot([0, 0, 1, 1, 0, 2], 3)  # recalls 2/3, 1/2, 1
    for kind in ("multiclass", "ordinal"):
        assert balanced_error(labels, probs, task_kind=kind) == pytest.approx(5 / 18)
    assert 1 - balanced_accuracy_score(labels, probs.argmax(1)) == pytest.approx(5 / 18)
    # A class predicted but absent from the truth counts as a miss, not as a class
    assert balanced_error([0, 0, 1, 1], _onehot([2, 0, 1, 1], 3), task_kind="multiclass") == 0.25


def test_binary_error_is_at_the_positive_class_threshold():
    labels = np.array([0, 0, 1, 1, 1])
    positive = np.array([0.2, 0.6, 0.55, 0.7, 0.4])
    probs = np.stack([1 - positive, positive], 1)
    # At 0.6 (>= decides): predictions 0 1 0 1 0, recalls 1/2 and 1/3
    at = balanced_error(labels, probs, task_kind="binary", thresholds={"yes": 0.6},
                        classes=["no", "yes"])  # fmt: skip
    assert at == pytest.approx(7 / 12)
    # Without thresholds at 0.5: predictions 0 1 1 1 0, recalls 1/2 and 2/3
    assert balanced_error(labels, probs, task_kind="binary") == pytest.approx(5 / 12)
    assert balanced_error(labels, probs, task_kind="binary", thresholds={"tumour": 0.6}) == (
        pytest.approx(7 / 12)
    )  # its only threshold, whatever the name


def test_multilabel_error_averages_each_label_at_its_threshold_missing_targets_left_out():
    targets = np.array([[1, 0], [0, np.nan], [1, 1], [0, 0]])
    probs = np.array([[0.7, 0.2], [0.4, 0.9], [0.3, 0.8], [0.1, 0.6]])
    # a at 0.5: 1 0 0 0 against 1 0 1 0 → recalls 1/2 and 1 → 0.75; b at 0.7 on rows 0, 2, 3:
    # 0 1 0 against 0 1 0 → 1 (row 1's 0.9 is missing, not a false positive)
    error = balanced_error(targets, probs, task_kind="multilabel", thresholds={"a": 0.5, "b": 0.7},
                           classes=["a", "b"])  # fmt: skip
    assert error == pytest.approx(0.125)
    # At 0.5 everywhere, b decides 0 1 1 on rows 0, 2, 3: recalls 1 and 1/2 → 0.75
    assert balanced_error(targets, probs, task_kind="multilabel") == pytest.approx(0.25)
    with pytest.raises(MedbenchError, match="label names in order"):
        balanced_error(targets, probs, task_kind="multilabel", thresholds={"a": 0.5})
    with pytest.raises(MedbenchError, match="no balanced error for task 'regression'"):
        balanced_error(targets, probs, task_kind="regression")


def test_relative_errors_are_medmnist_c_s():
    errors = {"noise": [0.2, 0.3, 0.4], "blur": 0.5}
    reference = {"noise": [0.4, 0.4, 0.4], "blur": 0.25, "pixelate": 0.9}
    out = relative_errors(errors, 0.1, reference, 0.2)
    assert out == pytest.approx({
        "corrupt/noise/be": 0.3 / 0.4, "corrupt/noise/rbe": (0.3 - 0.1) / (0.4 - 0.2),
        "corrupt/blur/be": 0.5 / 0.25, "corrupt/blur/rbe": (0.5 - 0.1) / (0.25 - 0.2),
        "corrupt/be": (0.75 + 2.0) / 2, "corrupt/rbe": (1.0 + 8.0) / 2,
    })  # fmt: skip
    itself = relative_errors(reference, 0.2, reference, 0.2)
    assert itself["corrupt/be"] == pytest.approx(1.0) and itself["corrupt/rbe"] == pytest.approx(1)


def test_a_reference_that_cannot_divide_is_named():
    with pytest.raises(MedbenchError, match="no error under corruption 'blur'"):
        relative_errors({"blur": 0.3}, 0.1, {"noise": 0.4}, 0.2)
    # the reference's error not growing (equal, or below its clean error: the sign would
    # flip) leaves rBE undefined for that kind, and the mean is over the others
    out = relative_errors({"noise": 0.3, "blur": 0.5}, 0.1,
                          {"noise": [0.2, 0.2], "blur": 0.6}, 0.2)  # fmt: skip
    assert np.isnan(out["corrupt/noise/rbe"]) and out["corrupt/noise/be"] == pytest.approx(1.5)
    assert out["corrupt/rbe"] == pytest.approx((0.5 - 0.1) / (0.6 - 0.2))
    assert undefined_kinds(out) == ["noise"]
    below = relative_errors({"noise": 0.3}, 0.1, {"noise": 0.15}, 0.2)
    assert np.isnan(below["corrupt/rbe"]) and below["corrupt/be"] == pytest.approx(2.0)
    zero = relative_errors({"noise": 0.3}, 0.1, {"noise": 0.0}, 0.0)
    assert np.isnan(zero["corrupt/be"]) and np.isnan(zero["corrupt/rbe"])
