"""Temperature scaling: fitted on validation it softens an over-confident model and sharpens
an under-confident one, keeps every decision, handles missing labels and probabilities of
exactly 0 or 1; the scores it is judged by, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from benchmark.errors import MedbenchError
from benchmark.evaluate import (
    apply_temperature,
    calibration_scores,
    expected_calibration_error,
    fit_temperature,
    reliability_figure,
)


def _softmax_task(scale: float, *, n: int = 4000, k: int = 4, seed: int = 0):
    """Labels drawn from a calibrated generator's softmax; the model's probabilities are
    the softmax of its logits times ``scale`` (> 1 over-confident, < 1 under-confident)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, k))
    truth = special.softmax(logits, axis=1)
    labels = (truth.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return labels, special.softmax(scale * logits, axis=1)


def _multilabel_task(scales, *, n: int = 4000, missing: float = 0.3, seed: int = 0):
    """Targets drawn from calibrated sigmoids, a share of them missing (NaN); the model's
    probabilities are the sigmoids of its logits times each label's scale."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, len(scales)))
    labels = (rng.random(logits.shape) < special.expit(logits)).astype(float)
    labels[rng.random(logits.shape) < missing] = np.nan
    return labels, special.expit(logits * np.asarray(scales))


@pytest.mark.parametrize(("scale", "expected"), [(4.0, 4.0), (1 / 3, 1 / 3)])
def test_the_fitted_temperature_undoes_over_and_under_confidence(scale, expected):
    val_labels, val_probs = _softmax_task(scale, seed=0)
    test_labels, test_probs = _softmax_task(scale, seed=1)
    t = fit_temperature(val_labels, val_probs, multilabel=False)
    assert t == pytest.approx(expected, rel=0.1)
    assert (t > 1) if scale > 1 else (t < 1)
    before = calibration_scores(test_labels, test_probs, multilabel=False)
    after = calibration_scores(
        test_labels, apply_temperature(test_probs, t, multilabel=False), multilabel=False
    )
    assert after["ece"] < before["ece"] / 2
    assert after["nll"] < before["nll"]
    assert after["brier"] < before["brier"]


def test_a_calibrated_model_keeps_a_temperature_near_one():
    labels, probs = _softmax_task(1.0)
    assert fit_temperature(labels, probs, multilabel=False) == pytest.approx(1.0, abs=0.1)


def test_a_temperature_of_one_is_the_identity_and_none_changes_a_decision():
    _, probs = _softmax_task(4.0, n=200)
    np.testing.assert_array_equal(apply_temperature(probs, 1.0, multilabel=False), probs)
    for t in (0.2, 2.5, 20.0):
        scaled = apply_temperature(probs, t, multilabel=False)
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
        np.testing.assert_array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
    expected = special.softmax(np.log(probs) / 2.5, axis=1)
    np.testing.assert_allclose(apply_temperature(probs, 2.5, multilabel=False), expected)


def test_probabilities_of_exactly_zero_or_one_stay_finite():
    """A kNN's vote fractions: over-confident, with zeros and ones."""
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    votes = np.array(
        [[1, 0, 0], [0.6, 0.4, 0], [0, 1, 0], [0.2, 0.8, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0],
         [0.4, 0.6, 0]]
    )  # fmt: skip
    t = fit_temperature(labels, votes, multilabel=False)
    assert 1 < t <= 20
    scaled = apply_temperature(votes, t, multilabel=False)
    floored = np.maximum(votes, 0.1)  # a 0 reads as half the smallest vote fraction, 0.2
    np.testing.assert_allclose(scaled, special.softmax(np.log(floored) / t, axis=1))
    np.testing.assert_array_equal(scaled.argmax(axis=1), votes.argmax(axis=1))
    scores = calibration_scores(labels, scaled, multilabel=False)
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["nll"] < calibration_scores(labels, votes, multilabel=False)["nll"]


def test_multilabel_temperatures_are_fitted_per_label_on_the_observed_targets():
    scales = [4.0, 1.0, 0.5]
    val_labels, val_probs = _multilabel_task(scales, seed=0)
    test_labels, test_probs = _multilabel_task(scales, seed=1)
    t = fit_temperature(val_labels, val_probs, multilabel=True)
    assert t.shape == (3,)
    np.testing.assert_allclose(t, scales, rtol=0.15)
    scaled = apply_temperature(test_probs, t, multilabel=True)
    np.testing.assert_array_equal(scaled > 0.5, test_probs > 0.5)  # logit 0 stays 0
    before = calibration_scores(test_labels, test_probs, multilabel=True)
    after = calibration_scores(test_labels, scaled, multilabel=True)
    assert after["ece"] < before["ece"] and after["nll"] < before["nll"]
    np.testing.assert_allclose(scaled, special.expit(special.logit(test_probs) / t), rtol=1e-6)


def test_sigmoids_of_exactly_zero_or_one_read_as_half_the_nearest_gap():
    labels = np.array([[1.0], [0.0], [1.0], [0.0]])
    votes = np.array([[1.0], [0.0], [0.75], [0.25]])
    scaled = apply_temperature(votes, 2.0, multilabel=True)
    logits = special.logit(np.array([[0.875], [0.125], [0.75], [0.25]]))
    np.testing.assert_allclose(scaled, special.expit(logits / 2))
    assert 0 < fit_temperature(labels, votes, multilabel=True)[0] < 1  # all right: sharpened


def test_a_label_never_observed_keeps_a_temperature_of_one():
    labels, probs = _multilabel_task([3.0, 3.0], n=500)
    labels[:, 1] = np.nan
    t = fit_temperature(labels, probs, multilabel=True)
    assert t[0] > 1 and t[1] == 1.0
    np.testing.assert_array_equal(apply_temperature(probs, [1.0, 1.0], multilabel=True), probs)


def test_softmax_scores_by_hand():
    labels = np.array([0, 1])
    probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    scores = calibration_scores(labels, probs, multilabel=False)
    # brier: ((0.2² + 0.2²) + (0.6² + 0.6²)) / 2 = (0.08 + 0.72) / 2
    assert scores["brier"] == pytest.approx(0.4)
    assert scores["nll"] == pytest.approx(-(np.log(0.8) + np.log(0.4)) / 2)
    # ECE: bin of 0.8 (right, confidence 0.8: gap 0.2) and bin of 0.6 (wrong: gap 0.6)
    assert scores["ece"] == pytest.approx((0.2 + 0.6) / 2)
    assert scores["ece"] == pytest.approx(expected_calibration_error(labels, probs))


def test_multilabel_scores_by_hand_over_the_observed_entries():
    labels = np.array([[1.0, np.nan], [0.0, 1.0], [np.nan, 0.0]])
    probs = np.array([[0.9, 0.5], [0.2, 0.7], [0.99, 0.4]])
    scores = calibration_scores(labels, probs, multilabel=True)
    # observed: (1, 0.9), (0, 0.2), (1, 0.7), (0, 0.4)
    assert scores["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.16) / 4)
    nll = -(np.log(0.9) + np.log(0.8) + np.log(0.7) + np.log(0.6)) / 4
    assert scores["nll"] == pytest.approx(nll)
    # per label, each entry alone in its bin: label 0 (0.1 + 0.2) / 2, label 1 (0.3 + 0.4) / 2
    assert scores["ece"] == pytest.approx((0.15 + 0.35) / 2)


def test_nothing_observed_scores_nan_and_fits_one():
    labels = np.full((2, 2), np.nan)
    probs = np.full((2, 2), 0.3)
    assert all(np.isnan(v) for v in calibration_scores(labels, probs, multilabel=True).values())
    np.testing.assert_array_equal(fit_temperature(labels, probs, multilabel=True), [1.0, 1.0])
    empty = np.zeros((0, 3))
    assert fit_temperature(np.zeros(0, int), empty, multilabel=False) == 1.0


def test_bad_shapes_and_temperatures_are_refused():
    with pytest.raises(MedbenchError, match="N class indices"):
        fit_temperature(np.zeros((3, 2)), np.full((3, 2), 0.5), multilabel=False)
    with pytest.raises(MedbenchError, match="positive number"):
        apply_temperature(np.full((3, 2), 0.5), 0.0, multilabel=False)


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_reliability_figure_shows_before_and_after(multilabel):
    if multilabel:
        labels, probs = _multilabel_task([4.0, 1.0], n=300)
    else:
        labels, probs = _softmax_task(4.0, n=300)
    t = fit_temperature(labels, probs, multilabel=multilabel)
    after = apply_temperature(probs, t, multilabel=multilabel)
    fig = reliability_figure(labels, probs, after, multilabel=multilabel, title="tiny")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("before: ECE") and titles[1].startswith("after: ECE")
    assert fig._suptitle.get_text() == "tiny"
