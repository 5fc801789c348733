"""``cost_sensitive``: fine-tuning with class-weighted cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from benchmark.errors import MedbenchError
from benchmark.strategies._base import register_strategy
from benchmark.strategies._freeze import FreezeOptions
from benchmark.strategies.finetune import Finetune

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.tasks import Task

__all__ = ["CostSensitive", "CostSensitiveOptions", "class_weights"]


class CostSensitiveOptions(FreezeOptions):
    class_weights: Literal["auto"] | dict[str, float] = Field(
        "auto",
        description="inverse class frequency, or a weight per class (multi-label: each "
        "label's positives weighted by its negatives over its positives, or as given)",
    )


@register_strategy("cost_sensitive")
class CostSensitive(Finetune):
    """Fine-tune with a class-weighted loss (inverse frequency, or given weights; per-label
    positive weights for a multi-label task)."""

    Options = CostSensitiveOptions
    options: CostSensitiveOptions

    def criterion(self, *, task: Task, labels: torch.Tensor, classes: Sequence[str]) -> nn.Module:
        spec = self.options.class_weights
        if spec == "auto":
            return task.loss(task.balanced_weights(labels, classes))
        return task.loss(class_weights(spec, classes=classes))


def class_weights(spec: dict[str, float], *, classes: Sequence[str]) -> torch.Tensor:
    """Per-class (or per-label) loss weights as given, 1 for the classes not named."""
    import torch

    unknown = sorted(set(spec) - set(classes))
    if unknown:
        raise MedbenchError(
            f"class_weights name classes {unknown} that the dataset does not have; "
            f"its classes are {list(classes)}."
        )
    return torch.tensor([float(spec.get(name, 1.0)) for name in classes])
