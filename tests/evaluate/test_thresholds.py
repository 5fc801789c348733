from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.errors import MedbenchError
from benchmark.evaluate import choose_threshold, choose_thresholds


@pytest.fixture
def validation():
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    scores = 1 / (1 + np.exp(-(rng.normal(size=300) + 1.5 * y)))
    return y, scores


def rates(y, scores, t):
    decision = scores >= t
    return (decision & y).sum() / y.sum(), (~decision & ~y).sum() / (~y).sum()


def test_youden_is_the_best_point_of_the_roc_curve(validation):
    y, scores = validation
    t = choose_threshold(y, scores, rule="youden")
    assert t in scores
    sensitivity, specificity = rates(y, scores, t)
    fpr, tpr, _ = skm.roc_curve(y, scores)
    assert sensitivity + specificity - 1 == pytest.approx((tpr - fpr).max())


def test_f1_is_the_best_f1_over_every_threshold(validation):
    y, scores = validation
    t = choose_threshold(y, scores, rule="f1")
    best = max(skm.f1_score(y, scores >= s) for s in np.unique(scores))
    assert skm.f1_score(y, scores >= t) == pytest.approx(best)


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 1.0])
def test_a_sensitivity_target_is_met_at_the_highest_threshold(validation, target):
    y, scores = validation
    t = choose_threshold(y, scores, rule="sensitivity", target=target)
    assert rates(y, scores, t)[0] >= target
    higher = np.unique(scores[scores > t])
    assert all(rates(y, scores, s)[0] < target for s in higher)  # none higher meets it


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95, 1.0])
def test_a_specificity_target_is_met_at_the_lowest_threshold(validation, target):
    y, scores = validation
    t = choose_threshold(y, scores, rule="specificity", target=target)
    assert rates(y, scores, t)[1] >= target
    lower = np.unique(scores[scores < t])
    assert all(rates(y, scores, s)[1] < target for s in lower)  # none lower meets it


def test_constructed_operating_points():
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1], bool)
    scores = np.arange(10) / 10
    assert choose_threshold(y, scores) == 0.6  # youden: all positives, 4 of 5 negatives
    assert choose_threshold(y, scores, rule="sensitivity", target=0.8) == 0.6
    assert choose_threshold(y, scores, rule="sensitivity", target=1.0) == 0.4
    assert choose_threshold(y, scores, rule="specificity", target=1.0) == 0.6
    assert choose_threshold(y, scores, rule="specificity", target=0.8) == 0.4
    # a negative scored above every positive: perfect specificity calls none positive
    assert choose_threshold(~y, scores, rule="specificity", target=1.0) > scores.max()


def test_ties_share_one_threshold():
    y = np.array([0, 1, 0, 1, 1], bool)
    scores = np.array([0.2, 0.5, 0.5, 0.5, 0.9])
    assert choose_threshold(y, scores, rule="sensitivity", target=0.9) == 0.5


@pytest.mark.parametrize("rule", ["youden", "f1", "sensitivity", "specificity"])
def test_one_class_only_gives_one_half(rule):
    target = 0.9 if rule in ("sensitivity", "specificity") else None
    for y in (np.ones(5, bool), np.zeros(5, bool), np.zeros(0, bool)):
        assert choose_threshold(y, np.linspace(0, 1, len(y)), rule=rule, target=target) == 0.5


def test_bad_rules_and_targets_are_refused():
    y, scores = np.array([0, 1], bool), np.array([0.2, 0.8])
    with pytest.raises(MedbenchError, match="unknown threshold rule 'youdn'"):
        choose_threshold(y, scores, rule="youdn")
    with pytest.raises(MedbenchError, match="needs a target"):
        choose_threshold(y, scores, rule="sensitivity")
    with pytest.raises(MedbenchError, match="needs a target"):
        choose_threshold(y, scores, rule="specificity", target=1.5)


def test_per_label_thresholds_mask_missing_targets(validation):
    y, scores = validation
    targets = np.stack([y, ~y, np.zeros_like(y)], 1).astype(float)
    targets[::7, 0] = np.nan
    probs = np.stack([scores, 1 - scores, scores], 1)
    seen = ~np.isnan(targets[:, 0])
    out = choose_thresholds(targets, probs, rule="youden")
    assert out[0] == choose_threshold(y[seen], scores[seen])
    assert out[1] == choose_threshold(~y, 1 - scores)
    assert out[2] == 0.5  # no positive observed


def test_a_fixed_threshold_is_kept_whatever_validation_says(validation):
    y, scores = validation
    assert choose_threshold(y, scores, rule="fixed", target=0.5) == 0.5
    targets = np.stack([y, ~y], 1).astype(float)
    assert choose_thresholds(targets, np.stack([scores, scores], 1), rule="fixed", target=0.3) == [
        0.3,
        0.3,
    ]
    with pytest.raises(MedbenchError, match="needs a target"):
        choose_threshold(y, scores, rule="fixed")
