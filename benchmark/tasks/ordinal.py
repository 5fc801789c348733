"""``ordinal``: graded classes; their order counts in the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from benchmark.errors import DataError
from benchmark.tasks._base import TaskOptions, register_task
from benchmark.tasks.multiclass import Multiclass

if TYPE_CHECKING:
    import numpy as np

    from benchmark.evaluate import Evaluation


class OrdinalOptions(TaskOptions):
    order: list[str] | None = Field(
        None, min_length=2, description="the classes from lowest to highest grade (default: "
        "their names sorted, which suits 0, 1, 2, …)"
    )  # fmt: skip


@register_task("ordinal")
class Ordinal(Multiclass):
    """Classes in order (grades): quadratic-weighted kappa, mean absolute error in grades and
    accuracy within one grade beside the multi-class metrics; cross-entropy, as MedMNIST+."""

    Options = OrdinalOptions
    options: OrdinalOptions

    def classes(self, found: Sequence[str], *, where: str) -> list[str]:
        order = self.options.order
        if order is None:
            return sorted(found, key=_grade)
        unknown = [c for c in order if c not in found]
        left = [c for c in found if c not in order]
        if unknown or left or len(set(order)) != len(order):
            raise DataError(
                f"{where}.order: must list each class of the dataset once, but "
                + ("; ".join(
                    part for part in (
                        f"{unknown} are not classes" if unknown else "",
                        f"{left} are missing" if left else "",
                        "a class is repeated" if len(set(order)) != len(order) else "",
                    ) if part
                ))
                + f" (its classes: {sorted(found)})."
            )  # fmt: skip
        return list(order)

    def evaluate(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                 ids: Sequence[str], thresholds: Mapping[str, float] | None,
                 prefix: str = "test/") -> Evaluation:  # fmt: skip
        from benchmark.evaluate import evaluate_ordinal

        return evaluate_ordinal(labels, probs, classes=list(classes), ids=list(ids), prefix=prefix)

    def intervals(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                  thresholds: Mapping[str, float] | None, resamples: int, seed: int,
                  level: float, prefix: str = "test/") -> dict[str, float]:  # fmt: skip
        from benchmark.evaluate import ordinal_intervals

        return super().intervals(
            labels, probs, classes=classes, thresholds=thresholds, resamples=resamples,
            seed=seed, level=level, prefix=prefix,
        ) | ordinal_intervals(
            labels, probs, resamples=resamples, seed=seed, level=level, prefix=prefix
        )  # fmt: skip


def _grade(name: str) -> tuple[int, float | str]:
    """Numeric names by value (``2`` before ``10``), then the others by name."""
    try:
        return 0, float(name)
    except ValueError:
        return 1, name
