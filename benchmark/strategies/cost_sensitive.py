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

__all__ = ["CostSensitive", "CostSensitiveOptions", "class_weights"]


class CostSensitiveOptions(FreezeOptions):
    class_weights: Literal["auto"] | dict[str, float] = Field(
        "auto", description="inverse class frequency, or a weight per class"
    )


@register_strategy("cost_sensitive")
class CostSensitive(Finetune):
    """Fine-tune with class-weighted cross-entropy (inverse frequency, or given weights)."""

    Options = CostSensitiveOptions
    options: CostSensitiveOptions

    def criterion(self, *, counts: Sequence[int], classes: Sequence[str]) -> nn.Module:
        from torch import nn

        return nn.CrossEntropyLoss(
            weight=class_weights(self.options.class_weights, counts=counts, classes=classes)
        )


def class_weights(
    spec: Literal["auto"] | dict[str, float], *, counts: Sequence[int], classes: Sequence[str]
) -> torch.Tensor:
    """Per-class loss weights: ``"auto"`` (inverse frequency, mean 1) or ``{class: weight}``."""
    import torch

    if spec == "auto":
        inverse = torch.tensor([1.0 / max(n, 1) for n in counts])
        return inverse / inverse.sum() * len(counts)
    unknown = sorted(set(spec) - set(classes))
    if unknown:
        raise MedbenchError(
            f"class_weights name classes {unknown} that the dataset does not have; "
            f"its classes are {list(classes)}."
        )
    return torch.tensor([float(spec.get(name, 1.0)) for name in classes])
