"""The metric catalogue: every metric a run records is in it, with the right direction."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from benchmark.errors import MedbenchError
from benchmark.evaluate import (
    binary_intervals,
    evaluate_binary,
    evaluate_multilabel,
    evaluate_ordinal,
    multilabel_intervals,
    multilabel_val_scores,
    ordinal_intervals,
)
from benchmark.metrics import get_metric, higher_is_better, list_metrics
from tests.conftest import SMALL


@pytest.mark.parametrize(
    ("key", "better"),
    [
        ("test/accuracy", True),
        ("test/ece", False),
        ("val/loss", False),
        ("train/loss", False),
        ("val/f1_weighted", True),
        ("test/glioma/f1", True),
        ("test/glioma/support", None),
        ("test/accuracy_ci_low", None),
        ("test/f1_weighted_std", False),
        ("latency/b1_mean_ms", False),
        ("latency/compiled_b32_p95_ms", False),
        ("latency/b32_img_per_s", True),
        ("params/total", False),
        ("cam/gradcam++/pointing_game", True),
        ("cam/random/seconds_per_image", False),
        ("cam/scorecam/road", None),
        ("seed_2/train/loss", False),
        ("seed_13/test/accuracy", True),
        ("episode_2/test/accuracy", True),
        ("episode_3/val/loss", False),
        ("test/accuracy_episodes_low", None),
        ("test/f1_macro_episodes_high", None),
        ("episodes", None),
        ("memory/peak_mb", False),
        ("time/embed_s", False),
        ("embed/computed", None),
        ("embed/reused", None),
        ("test/auroc", True),
        ("test/average_precision", True),
        ("test/threshold", None),
        ("test/sensitivity", True),
        ("test/specificity", True),
        ("test/ppv", True),
        ("test/npv", True),
        ("test/npv_ci_low", None),
        ("test/auroc_micro", True),
        ("test/average_precision_macro_ci_high", None),
        ("test/f1_micro", True),
        ("test/labels_scored", None),
        ("test/labels_left_out", None),
        ("test/Pleural Effusion/auroc", True),
        ("test/Edema/auroc_ci_low", None),
        ("test/Edema/average_precision", True),
        ("test/Edema/ece", False),
        ("test/Edema/threshold", None),
        ("test/Edema/prevalence", None),
        ("test/kappa_quadratic", True),
        ("test/mae", False),
        ("test/mae_ci_high", None),
        ("test/mae_std", False),
        ("test/accuracy_within_1", True),
        ("val/auroc_macro", True),
        ("seed_1/test/ece", False),
    ],
)
def test_directions(key, better):
    assert higher_is_better(key) is better


def test_exact_keys_win_over_families():
    """``test/{class}/ece`` is a label's; ``test/ece`` stays the task's own entry."""
    assert get_metric("test/ece").key == "test/ece"
    assert get_metric("test/Edema/ece").key == "test/{class}/ece"
    assert get_metric("test/threshold").key == "test/threshold"
    assert get_metric("test/kappa_quadratic_ci_low").key == "test/{score}_ci_low"


def test_every_metric_of_the_task_kinds_is_catalogued():
    """The keys binary, multi-label and ordinal evaluations and their intervals give."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = rng.random(60)
    binary = np.stack([1 - p, p], 1)
    targets = (rng.random((60, 3)) < 0.4).astype(float)
    targets[:, 2] = 0.0  # a label left out
    multi = rng.random((60, 3))
    grades = rng.integers(0, 3, 60)
    ordinal = rng.dirichlet(np.ones(3), 60)
    ids = [""] * 60
    keys = [
        *evaluate_binary(y, binary, classes=["no", "yes"], ids=ids, threshold=0.4).metrics,
        *binary_intervals(y, binary, threshold=0.4, resamples=20),
        *evaluate_multilabel(
            targets, multi, labels=["A", "B C", "D"], ids=ids, thresholds=[0.5] * 3
        ).metrics,
        *multilabel_intervals(targets, multi, labels=["A", "B C", "D"], thresholds=[0.5] * 3),
        *evaluate_ordinal(grades, ordinal, classes=["G0", "G1", "G2"], ids=ids).metrics,
        *ordinal_intervals(grades, ordinal, resamples=20),
        *(f"val/{k}" for k in multilabel_val_scores(targets, multi)),
    ]
    for key in keys:
        get_metric(key)  # raises for an unknown key
    assert higher_is_better("test/B C/auroc") is True


def test_an_unknown_metric_names_the_catalogue():
    with pytest.raises(MedbenchError, match=r"unknown metric 'test/acuracy'.*test/accuracy"):
        get_metric("test/acuracy")


def test_every_metric_a_run_records_is_catalogued(small_store):
    """The cell runs and the summary run of the quickstart's suite, made small (CAMs,
    latency, intervals, per class, error overlap), log only catalogued keys."""
    client = MlflowClient(small_store)
    experiment = client.get_experiment_by_name(SMALL)
    keys = {
        key for run in client.search_runs([experiment.experiment_id]) for key in run.data.metrics
    }
    assert {"test/accuracy", "val/loss", "latency/b1_mean_ms", "cam/gradcam/pointing_game"} <= keys
    unknown = []
    for key in sorted(keys):
        try:
            get_metric(key)
        except MedbenchError:
            unknown.append(key)
    assert not unknown, f"metrics the catalogue does not know: {unknown}"
    assert len({m.key for m in list_metrics()}) == len(list_metrics())
