"""The metric catalogue: every metric a run records is in it, with the right direction."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from benchmark.errors import MedbenchError
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
    ],
)
def test_directions(key, better):
    assert higher_is_better(key) is better


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
