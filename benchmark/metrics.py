"""The catalogue of what medbench measures: each metric's key, display name, unit and which
direction is better, in one place.

Training (its early-stopping monitor), tuning (the objective's direction), promotion,
the leaderboard, the report, the summary and the console read directions and names from
here. Families are templates (``test/{class}/f1``, ``latency/b{batch}_mean_ms``,
``cam/{method}/pointing_game``); a key matches the first entry whose template it fits, and
``seed_<n>/<key>`` or ``episode_<n>/<key>`` (the same metric for one seed, or one episode of
the label-efficiency axis) is ``<key>``'s; ``external/<dataset>/<key>`` and
``corrupt/<kind>/<severity>/<key>`` (a test metric on an external dataset, or under a
corruption) are ``test/<key>``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from benchmark.errors import MedbenchError, suggest

__all__ = ["CATALOGUE", "Metric", "get_metric", "higher_is_better", "list_metrics"]


@dataclass(frozen=True)
class Metric:
    key: str  # the MLflow metric key, or a template of a family of keys
    title: str  # what a table or a figure calls it
    higher_is_better: bool | None  # None: not ranked (counts, settings, ROAD's signed score)
    unit: str = ""  # "", "s", "ms", "img/s", "parameters", "GMACs", "images", "labels", "grades"

    def matches(self, key: str) -> bool:
        return _pattern(self.key).fullmatch(key) is not None


_SCORES = (  # (name, title): test scores in [0, 1], higher is better
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("precision_weighted", "precision (weighted)"),
    ("recall_weighted", "recall (weighted)"),
    ("f1_weighted", "F1 (weighted)"),
    ("precision_macro", "precision (macro)"),
    ("recall_macro", "recall (macro)"),
    ("f1_macro", "F1 (macro)"),
    ("auroc_macro", "AUROC (macro)"),
    ("mcc", "Matthews correlation"),
    ("kappa", "Cohen's kappa"),
    # binary tasks: threshold-free, and at the operating point
    ("auroc", "AUROC"),
    ("average_precision", "average precision"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("ppv", "positive predictive value"),
    ("npv", "negative predictive value"),
    # multi-label tasks: over the labels with both classes in the test split
    ("auroc_micro", "AUROC (micro)"),
    ("average_precision_macro", "average precision (macro)"),
    ("average_precision_micro", "average precision (micro)"),
    ("f1_micro", "F1 (micro)"),
    # ordinal tasks
    ("kappa_quadratic", "quadratic-weighted kappa"),
    ("accuracy_within_1", "accuracy within one grade"),
)

CATALOGUE: tuple[Metric, ...] = (
    *(Metric(f"test/{name}", title, True) for name, title in _SCORES),
    Metric("test/ece", "expected calibration error", False),
    Metric("test/log_loss", "log loss", False),
    Metric("test/mae", "mean absolute error", False, "grades"),
    Metric("test/threshold", "decision threshold (chosen on validation)", None),
    Metric("test/labels_scored", "labels with both classes in test", None, "labels"),
    Metric("test/labels_left_out", "labels left out (one class in test)", None, "labels"),
    Metric("test/{score}_std", "standard deviation across seeds or episodes", False),
    Metric("test/{score}_ci_low", "interval, lower bound", None),
    Metric("test/{score}_ci_high", "interval, upper bound", None),
    Metric("test/{score}_episodes_low", "interval of the mean across episodes, lower", None),
    Metric("test/{score}_episodes_high", "interval of the mean across episodes, upper", None),
    Metric("seeds", "seeds trained and tested", None),
    Metric("episodes", "episodes (draws of the training images) trained and tested", None),
    Metric("test/{class}/precision", "precision of a class", True),
    Metric("test/{class}/recall", "recall of a class", True),
    Metric("test/{class}/f1", "F1 of a class", True),
    Metric("test/{class}/sensitivity", "sensitivity of a class", True),
    Metric("test/{class}/specificity", "specificity of a class", True),
    Metric("test/{class}/auroc", "AUROC of a class against the rest", True),
    Metric("test/{class}/average_precision", "average precision of a label", True),
    Metric("test/{class}/ece", "expected calibration error of a label", False),
    Metric("test/{class}/threshold", "decision threshold of a label", None),
    Metric("test/{class}/prevalence", "share of a label's observed test images", None),
    Metric("test/{class}/auroc_ci_low", "interval of a label's AUROC, lower bound", None),
    Metric("test/{class}/auroc_ci_high", "interval of a label's AUROC, upper bound", None),
    Metric("test/{class}/support", "test images of a class", None, "images"),
    Metric("train/loss", "training loss", False),
    Metric("train/lr", "learning rate", None),
    Metric("train/best_epoch", "best epoch", None),
    Metric("train/epochs_run", "epochs run", None),
    Metric("train/epochs_restored", "epochs restored from a checkpoint", None),
    Metric("val/loss", "validation loss", False),
    Metric("val/accuracy", "validation accuracy", True),
    Metric("val/f1_weighted", "validation F1 (weighted)", True),
    Metric("val/auroc_macro", "validation AUROC (macro)", True),
    Metric("params/total", "parameters", False, "parameters"),
    Metric("params/trainable", "trainable parameters", False, "parameters"),
    Metric("params/backbone", "backbone parameters", False, "parameters"),
    Metric("params/head", "head parameters", False, "parameters"),
    Metric("flops/gmacs", "multiply-accumulates", False, "GMACs"),
    Metric("time/train_s", "training time", False, "s"),
    Metric("time/epoch_s", "time per epoch", False, "s"),
    Metric("time/train_img_per_s", "training throughput (warm-up excluded)", True, "img/s"),
    Metric("time/warmup_s", "training warm-up (first step: compiling, autotuning)", False, "s"),
    Metric("time/checkpoint_s", "time writing checkpoints", False, "s"),
    Metric("time/latency_wait_s", "wait for the GPU before timing latency", False, "s"),
    Metric("time/bootstrap_s", "time of the bootstrap intervals", False, "s"),
    Metric("time/embed_s", "time embedding images (cache reads included)", False, "s"),
    Metric("embed/computed", "images embedded by the backbone in this run", None, "images"),
    Metric("embed/reused", "images whose embeddings were read from the cache", None, "images"),
    Metric("memory/peak_mb", "peak GPU memory of the final training", False, "MB"),
    Metric("latency/b{batch}_img_per_s", "prediction throughput", True, "img/s"),
    Metric("latency/compiled_b{batch}_img_per_s", "compiled prediction throughput", True, "img/s"),
    Metric("latency/b{batch}_{stat}_ms", "prediction time", False, "ms"),
    Metric("latency/compiled_b{batch}_{stat}_ms", "compiled prediction time", False, "ms"),
    Metric("tune/trials", "trials", None),
    Metric("tune/trials_{state}", "trials by state", None),
    Metric("tune/best_trial", "best trial", None),
    Metric("tune/best_value", "best objective value", None),
    Metric("data/test_leaks", "test images leaking from train/val", None, "images"),
    Metric("data/{count}", "dataset count", None, "images"),
    Metric("cam/{method}/pointing_game", "pointing game", True),
    Metric("cam/{method}/energy_in_mask", "energy inside the lesion", True),
    Metric("cam/{method}/iou", "top-region IoU with the lesion", True),
    Metric("cam/{method}/drop", "confidence drop, top region blurred", True),
    Metric("cam/{method}/road", "ROAD (signed by its variant)", None),
    Metric("cam/{method}/seconds_per_image", "seconds per image", False, "s"),
    Metric("cam/{method}/images", "images scored", None, "images"),
    # calibration (evaluate.calibration): with it, test/ece|brier|nll are the calibrated
    # model's and these the model's before
    Metric("test/brier", "Brier score", False),
    Metric("test/nll", "negative log-likelihood", False),
    Metric("test/{score}_uncalibrated", "before calibration", False),
    Metric("calibration/temperature", "temperature (fitted on validation)", None),
    Metric("calibration/{label}/temperature", "temperature of a label", None),
    # external validation (evaluate.external): external/<dataset>/<key> is test/<key>'s
    # metric measured on that dataset; and the drop from the internal test score
    Metric("external/{dataset}/{score}_drop", "drop from the internal score (same classes)", False),
    Metric(
        "external/{dataset}/overlap_images",
        "external images copying training ones (left out)",
        None,
        "images",
    ),
    # corruptions (evaluate.corruptions): corrupt/<kind>/<severity>/<key> is test/<key>'s
    # metric under that corruption; balanced errors as MedMNIST-C defines them
    Metric(
        "corrupt/{kind}/{severity}/balanced_error", "balanced error (1 − balanced accuracy)", False
    ),
    Metric("corrupt/{kind}/balanced_error", "balanced error under a corruption", False),
    Metric("corrupt/clean_balanced_error", "balanced error, clean test", False),
    Metric("corrupt/balanced_error", "balanced error, mean over corruptions", False),
    Metric("corrupt/{kind}/be", "balanced error relative to the reference", False),
    Metric("corrupt/{kind}/rbe", "relative balanced error", False),
    Metric("corrupt/be", "mean balanced error relative to the reference (BE)", False),
    Metric("corrupt/rbe", "mean relative balanced error (rBE)", False),
    Metric("corrupt/{name}_std", "standard deviation across seeds or episodes", False),
    Metric("corrupt/{kind}/{name}_std", "standard deviation across seeds or episodes", False),
    Metric("corrupt/balanced_error_episodes_low", "interval across episodes, lower", None),
    Metric("corrupt/balanced_error_episodes_high", "interval across episodes, upper", None),
    Metric("time/corrupt_s", "time testing under corruptions", False, "s"),
    Metric("time/external_s", "time testing on external datasets", False, "s"),
    Metric("system/{name}", "system use", None),
    # the suite's summary run: per dataset, test images by how many cells got them wrong
    Metric("{dataset}/wrong_in_{count}", "test images that many cells got wrong", None, "images"),
)
_EXACT = {m.key: m for m in CATALOGUE if "{" not in m.key}


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


_SEED = re.compile(r"(seed|episode)_\d+/")
# a test metric measured elsewhere: on an external dataset, under a corruption
_ELSEWHERE = re.compile(r"(external/[^/]+|corrupt/[^/]+/\d+)/")


def get_metric(key: str) -> Metric:
    """The catalogue's entry for ``key`` (an exact key first, then the first family); a
    ``seed_<n>/`` or ``episode_<n>/`` prefix (one seed's or episode's value of the same
    metric) is looked through."""
    if key in _EXACT:
        return _EXACT[key]
    if seeded := _SEED.match(key):
        return get_metric(key[seeded.end() :])
    for metric in CATALOGUE:
        if metric.matches(key):
            return metric
    if elsewhere := _ELSEWHERE.match(key):
        try:
            return get_metric("test/" + key[elsewhere.end() :])
        except MedbenchError:
            pass
    raise MedbenchError(
        f"unknown metric '{key}': expected one of the catalogue's keys, such as "
        f"{sorted(_EXACT)[:8]} (`medbench list metrics` shows all)." + suggest(key, _EXACT)
    )


def higher_is_better(key: str) -> bool | None:
    """Whether larger values of ``key`` are better (``None``: not ranked)."""
    return get_metric(key).higher_is_better


def list_metrics() -> list[Metric]:
    return list(CATALOGUE)
