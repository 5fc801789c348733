from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from benchmark.errors import MedbenchError
from benchmark.evaluate import (
    evaluate_multilabel,
    label_ece,
    multilabel_intervals,
    multilabel_val_scores,
)

LABELS = ["Atelectasis", "Edema", "Effusion", "Hernia"]
THRESHOLDS = [0.4, 0.5, 0.3, 0.5]


@pytest.fixture
def predictions():
    """120 images, 4 labels; a tenth of the targets missing; Hernia never positive."""
    rng = np.random.default_rng(0)
    n = 120
    targets = (rng.random((n, 4)) < [0.3, 0.2, 0.4, 0.0]).astype(float)
    logits = rng.normal(size=(n, 4)) + 2.0 * targets - 1.0
    targets[rng.random((n, 4)) < 0.1] = np.nan
    return targets, 1 / (1 + np.exp(-logits))


def observed(targets, probs, k):
    seen = ~np.isnan(targets[:, k])
    return targets[seen, k] == 1, probs[seen, k]


def test_per_label_metrics_match_scikit_learn_on_observed_entries(predictions):
    targets, probs = predictions
    result = evaluate_multilabel(
        targets, probs, labels=LABELS, ids=[str(i) for i in range(120)], thresholds=THRESHOLDS
    )
    m = result.metrics
    for k, name in enumerate(LABELS[:3]):
        y, p = observed(targets, probs, k)
        d = p >= THRESHOLDS[k]
        assert m[f"test/{name}/auroc"] == skm.roc_auc_score(y, p)
        assert m[f"test/{name}/average_precision"] == skm.average_precision_score(y, p)
        assert m[f"test/{name}/f1"] == skm.f1_score(y, d)
        assert m[f"test/{name}/sensitivity"] == skm.recall_score(y, d)
        assert m[f"test/{name}/specificity"] == pytest.approx(skm.recall_score(~y, ~d))
        assert m[f"test/{name}/threshold"] == THRESHOLDS[k]
        assert m[f"test/{name}/support"] == y.sum()
        assert m[f"test/{name}/prevalence"] == pytest.approx(y.mean())
        assert m[f"test/{name}/ece"] == pytest.approx(label_ece(y, p))
        assert (result.confusion[k] == skm.confusion_matrix(y, d)).all()
    assert result.confusion.shape == (4, 2, 2)
    assert result.confusion[3].sum() == (~np.isnan(targets[:, 3])).sum()


def test_means_run_over_the_scored_labels_and_name_the_others(predictions):
    targets, probs = predictions
    result = evaluate_multilabel(
        targets, probs, labels=LABELS, ids=[""] * 120, thresholds=THRESHOLDS
    )
    m = result.metrics
    assert m["test/labels_scored"] == 3 and m["test/labels_left_out"] == 1
    assert len(result.notes) == 1 and "'Hernia'" in result.notes[0]
    assert "0 positive" in result.notes[0]
    assert "test/Hernia/auroc" not in m and "test/Hernia/f1" not in m
    assert m["test/Hernia/support"] == 0 and m["test/Hernia/specificity"] > 0
    scored = [0, 1, 2]
    assert m["test/auroc_macro"] == pytest.approx(
        np.mean([m[f"test/{LABELS[k]}/auroc"] for k in scored])
    )
    assert m["test/average_precision_macro"] == pytest.approx(
        np.mean([m[f"test/{LABELS[k]}/average_precision"] for k in scored])
    )
    assert m["test/f1_macro"] == pytest.approx(np.mean([m[f"test/{LABELS[k]}/f1"] for k in scored]))
    assert m["test/ece"] == pytest.approx(np.mean([m[f"test/{LABELS[k]}/ece"] for k in scored]))
    seen = ~np.isnan(targets[:, scored])
    y, p = targets[:, scored][seen] == 1, probs[:, scored][seen]
    d = (probs[:, scored] >= np.array(THRESHOLDS)[scored])[seen]
    assert m["test/auroc_micro"] == skm.roc_auc_score(y, p)
    assert m["test/average_precision_micro"] == skm.average_precision_score(y, p)
    assert m["test/f1_micro"] == skm.f1_score(y, d)
    assert m["test/accuracy"] == skm.accuracy_score(y, d)
    assert all(np.isfinite(list(m.values())))


def test_predictions_and_report(predictions):
    targets, probs = predictions
    targets[0] = [1, 0, np.nan, 0]
    probs[0] = [0.9, 0.6, 0.35, 0.1]
    result = evaluate_multilabel(
        targets, probs, labels=LABELS, ids=[f"img{i}" for i in range(120)], thresholds=THRESHOLDS
    )
    row = result.predictions.iloc[0]
    assert (row["id"], row["true"], row["pred"], row["missing"]) == (
        "img0",
        "Atelectasis",
        "Atelectasis|Edema|Effusion",
        "Effusion",
    )
    assert list(result.predictions.columns) == [
        "id", "true", "pred", "missing", *(f"p_{name}" for name in LABELS)
    ]  # fmt: skip
    assert result.report["Edema"]["auroc"] == result.metrics["test/Edema/auroc"]
    assert result.report["Hernia"]["scored"] is False


def test_no_label_scored_gives_counts_and_notes_only():
    targets = np.array([[1.0, np.nan], [1.0, 0.0]])
    result = evaluate_multilabel(
        targets, np.full((2, 2), 0.7), labels=["a", "b"], ids=["x", "y"], thresholds=[0.5, 0.5]
    )
    assert result.metrics["test/labels_scored"] == 0 and "test/auroc_macro" not in result.metrics
    assert len(result.notes) == 2
    assert all(np.isfinite(list(result.metrics.values())))


def test_label_ece_by_hand():
    # bins of width 1/15: 0.02 and 0.05 share the first bin, 0.9 falls in another
    y, p = np.array([0, 1, 1]), np.array([0.02, 0.05, 0.9])
    assert label_ece(y, p) == pytest.approx((abs(1 - 0.07) + abs(1 - 0.9)) / 3)
    assert label_ece(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_validation_scores(predictions):
    targets, probs = predictions
    out = multilabel_val_scores(targets, probs)
    seen = ~np.isnan(targets)
    assert out["accuracy"] == pytest.approx(np.mean((targets == 1)[seen] == (probs >= 0.5)[seen]))
    f1s, supports, aurocs = [], [], []
    for k in range(4):
        y, p = observed(targets, probs, k)
        f1s.append(skm.f1_score(y, p >= 0.5, zero_division=0))
        supports.append(y.sum())
        if 0 < y.sum() < len(y):
            aurocs.append(skm.roc_auc_score(y, p))
    assert out["f1_weighted"] == pytest.approx(np.average(f1s, weights=supports))
    assert out["auroc_macro"] == pytest.approx(np.mean(aurocs))
    assert "loss" not in out


def test_intervals_match_scikit_learn_on_the_same_resamples(predictions):
    targets, probs = predictions
    resamples, seed = 30, 1
    ci = multilabel_intervals(
        targets, probs, labels=LABELS, thresholds=THRESHOLDS, resamples=resamples, seed=seed,
        level=0.9, threads=2,
    )  # fmt: skip
    idx = np.random.default_rng(seed).integers(0, 120, size=(resamples, 120))
    reference: dict[str, list[float]] = {"auroc_macro": [], "auroc_micro": [], "f1_micro": []}
    reference |= {"average_precision_macro": [], "f1_macro": [], "Edema/auroc": []}
    for draw in idx:
        t, p = targets[draw], probs[draw]
        aurocs, aps, f1s = [], [], []
        for k in range(3):
            y, s = observed(t, p, k)
            f1s.append(skm.f1_score(y, s >= THRESHOLDS[k], zero_division=0))
            if 0 < y.sum() < len(y):
                aurocs.append(skm.roc_auc_score(y, s))
                aps.append(skm.average_precision_score(y, s))
        seen = ~np.isnan(t[:, :3])
        y, s = t[:, :3][seen] == 1, p[:, :3][seen]
        d = (p[:, :3] >= THRESHOLDS[:3])[seen]
        reference["auroc_macro"].append(np.mean(aurocs))
        reference["average_precision_macro"].append(np.mean(aps))
        reference["f1_macro"].append(np.mean(f1s))
        reference["auroc_micro"].append(skm.roc_auc_score(y, s))
        reference["f1_micro"].append(skm.f1_score(y, d))
        reference["Edema/auroc"].append(skm.roc_auc_score(*observed(t, p, 1)))
    for name, values in reference.items():
        low, high = np.percentile(values, [5, 95])
        assert ci[f"test/{name}_ci_low"] == pytest.approx(low), name
        assert ci[f"test/{name}_ci_high"] == pytest.approx(high), name
    assert "test/Hernia/auroc_ci_low" not in ci


def test_intervals_are_the_same_on_any_number_of_threads(predictions):
    targets, probs = predictions
    one, two = (
        multilabel_intervals(
            targets, probs, labels=LABELS, thresholds=THRESHOLDS, resamples=20, threads=t
        )
        for t in (1, 2)
    )
    assert one == two


def test_mismatched_shapes_are_refused(predictions):
    targets, probs = predictions
    with pytest.raises(MedbenchError, match="N × L targets and probabilities and L thresholds"):
        evaluate_multilabel(targets, probs, labels=LABELS, ids=[""] * 120, thresholds=[0.5])
