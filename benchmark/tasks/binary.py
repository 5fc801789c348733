"""``binary``: a positive class judged at an operating point chosen on validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from benchmark.errors import DataError
from benchmark.tasks._base import OperatingPoint, register_task
from benchmark.tasks.multiclass import Multiclass

if TYPE_CHECKING:
    import numpy as np

    from benchmark.evaluate import Evaluation


class BinaryOptions(OperatingPoint):
    positive: str = Field(description="the positive class (what a screening test detects)")


@register_task("binary")
class Binary(Multiclass):
    """Two classes, the positive one named; sensitivity, specificity, PPV and NPV at a
    threshold chosen on validation, beside AUROC and average precision."""

    Options = BinaryOptions
    options: BinaryOptions
    thresholded = True
    objective = "val/auroc_macro"
    ranking = "test/auroc_macro"
    headline = (("AUROC", "test/auroc"), ("sensitivity", "test/sensitivity"),
                ("specificity", "test/specificity"))  # fmt: skip
    paired_test = "DeLong on AUROC, Holm-adjusted"

    def classes(self, found: Sequence[str], *, where: str) -> list[str]:
        """``[negative, positive]``: the positive class's probability is output 1."""
        positive = self.options.positive
        if positive not in found:
            raise DataError(
                f"{where}.positive: '{positive}' is not a class of the dataset; its classes are "
                f"{list(found)}."
            )
        if len(found) != 2:
            raise DataError(
                f"{where}: a binary task needs two classes, but the dataset has {len(found)}: "
                f"{list(found)}. Merge classes with the layout's `options.labels` (e.g. "
                "{glioma: tumour, meningioma: tumour}), or use `task: multiclass`."
            )
        return [next(c for c in found if c != positive), positive]

    def thresholds(self, labels: np.ndarray, probs: np.ndarray,
                   classes: Sequence[str]) -> dict[str, float] | None:  # fmt: skip
        from benchmark.evaluate import choose_threshold

        rule, target = self.options.rule
        return {classes[1]: choose_threshold(labels == 1, probs[:, 1], rule=rule, target=target)}

    def evaluate(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                 ids: Sequence[str], thresholds: Mapping[str, float] | None,
                 prefix: str = "test/") -> Evaluation:  # fmt: skip
        from benchmark.evaluate import evaluate_binary

        return evaluate_binary(
            labels, probs, classes=list(classes), ids=list(ids),
            threshold=_threshold(thresholds, classes), prefix=prefix,
        )  # fmt: skip

    def intervals(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                  thresholds: Mapping[str, float] | None, resamples: int, seed: int,
                  level: float, prefix: str = "test/") -> dict[str, float]:  # fmt: skip
        from benchmark.evaluate import binary_intervals

        return binary_intervals(
            labels, probs, threshold=_threshold(thresholds, None), resamples=resamples,
            seed=seed, level=level, prefix=prefix,
        )  # fmt: skip


def _threshold(thresholds: Mapping[str, float] | None, classes: Sequence[str] | None) -> float:
    """The positive class's threshold (0.5 where none was chosen)."""
    if not thresholds:
        return 0.5
    if classes is not None and classes[1] in thresholds:
        return float(thresholds[classes[1]])
    return float(next(iter(thresholds.values())))
