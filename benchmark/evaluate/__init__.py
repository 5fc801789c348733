"""Evaluation: metrics (multiclass, binary at an operating point, multi-label, ordinal),
thresholds, calibration (temperature scaling), bootstrap intervals, paired tests, error
overlap, robustness to corruptions, cost and latency."""

from benchmark.evaluate._binary import binary_intervals, evaluate_binary, operating_point
from benchmark.evaluate._bootstrap import bootstrap_intervals
from benchmark.evaluate._calibration import (
    apply_temperature,
    calibration_scores,
    fit_temperature,
    reliability_figure,
)
from benchmark.evaluate._compare import (
    delong_test,
    error_overlap,
    holm,
    mcnemar,
    overlap_figure,
    paired_auroc_tests,
    paired_tests,
)
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
from benchmark.evaluate._multilabel import (
    evaluate_multilabel,
    label_ece,
    multilabel_intervals,
    multilabel_val_scores,
)
from benchmark.evaluate._ordinal import evaluate_ordinal, ordinal_intervals, ordinal_metrics
from benchmark.evaluate._robustness import balanced_error, relative_errors, undefined_kinds
from benchmark.evaluate._thresholds import RULES, choose_threshold, choose_thresholds

__all__ = [
    "RULES",
    "Evaluation",
    "apply_temperature",
    "balanced_error",
    "binary_intervals",
    "bootstrap_intervals",
    "calibration_scores",
    "choose_threshold",
    "choose_thresholds",
    "confusion_figure",
    "count_gmacs",
    "delong_test",
    "environment",
    "error_overlap",
    "evaluate",
    "evaluate_binary",
    "evaluate_multilabel",
    "evaluate_ordinal",
    "expected_calibration_error",
    "fit_temperature",
    "holm",
    "label_ece",
    "mcnemar",
    "measure_latency",
    "multilabel_intervals",
    "multilabel_val_scores",
    "operating_point",
    "ordinal_intervals",
    "ordinal_metrics",
    "overlap_figure",
    "paired_auroc_tests",
    "paired_tests",
    "peak_memory_mb",
    "relative_errors",
    "reliability_figure",
    "reset_peak_memory",
    "score",
    "undefined_kinds",
]
