"""Evaluation: metrics, bootstrap intervals, paired tests, error overlap, cost and latency."""

from benchmark.evaluate._bootstrap import bootstrap_intervals
from benchmark.evaluate._compare import error_overlap, holm, mcnemar, overlap_figure, paired_tests
from benchmark.evaluate._cost import (
    count_gmacs,
    environment,
    measure_latency,
    peak_memory_mb,
    reset_peak_memory,
)
from benchmark.evaluate._metrics import (
    Evaluation,
    confusion_figure,
    evaluate,
    expected_calibration_error,
    score,
)

__all__ = [
    "Evaluation",
    "bootstrap_intervals",
    "confusion_figure",
    "count_gmacs",
    "environment",
    "error_overlap",
    "evaluate",
    "expected_calibration_error",
    "holm",
    "mcnemar",
    "measure_latency",
    "overlap_figure",
    "paired_tests",
    "peak_memory_mb",
    "reset_peak_memory",
    "score",
]
