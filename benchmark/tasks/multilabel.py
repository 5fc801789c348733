"""``multilabel``: several findings per image, some missing; one sigmoid per label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING

from benchmark.tasks._base import OperatingPoint, Task, register_task

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from benchmark.evaluate import Evaluation


@register_task("multilabel")
class Multilabel(Task):
    """Several labels per image (chest X-ray findings): one sigmoid per label, binary
    cross-entropy with missing labels masked out; per-label AUROC, average precision and F1
    at a per-label threshold chosen on validation."""

    Options = OperatingPoint
    options: OperatingPoint
    multilabel = True
    thresholded = True
    objective = "val/auroc_macro"
    ranking = "test/auroc_macro"
    headline = (("macro AUROC", "test/auroc_macro"), ("macro F1", "test/f1_macro"))
    paired_test = (
        "paired bootstrap of the macro AUROC (the same resamples for every cell), Holm-adjusted"
    )

    def loss(self, weights: torch.Tensor | None = None) -> nn.Module:
        return _masked_bce()(weights)

    def balanced_weights(self, labels: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """Per label, its negatives over its positives (BCE's ``pos_weight``)."""
        observed = ~labels.isnan()
        positives = (labels.nan_to_num(0.0) > 0.5).sum(dim=0).float()
        negatives = observed.sum(dim=0).float() - positives
        return negatives / positives.clamp(min=1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid()

    def loss_sum(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image the mean loss over its observed labels, summed over the images."""
        per_entry, observed = _bce(logits, labels, None)
        per_image = per_entry.sum(dim=1) / observed.sum(dim=1).clamp(min=1)
        return per_image.sum()

    def val_scores(self, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        from benchmark.evaluate import multilabel_val_scores

        return multilabel_val_scores(labels, probs)

    def thresholds(self, labels: np.ndarray, probs: np.ndarray,
                   classes: Sequence[str]) -> dict[str, float] | None:  # fmt: skip
        from benchmark.evaluate import choose_thresholds

        rule, target = self.options.rule
        chosen = choose_thresholds(labels, probs, rule=rule, target=target)
        return dict(zip(classes, map(float, chosen), strict=True))

    def evaluate(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                 ids: Sequence[str], thresholds: Mapping[str, float] | None,
                 prefix: str = "test/") -> Evaluation:  # fmt: skip
        from benchmark.evaluate import evaluate_multilabel

        return evaluate_multilabel(
            labels, probs, labels=list(classes), ids=list(ids),
            thresholds=_per_label(thresholds, classes), prefix=prefix,
        )  # fmt: skip

    def intervals(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                  thresholds: Mapping[str, float] | None, resamples: int, seed: int,
                  level: float, prefix: str = "test/") -> dict[str, float]:  # fmt: skip
        from benchmark.evaluate import multilabel_intervals

        return multilabel_intervals(
            labels, probs, labels=list(classes), thresholds=_per_label(thresholds, classes),
            resamples=resamples, seed=seed, level=level, prefix=prefix,
        )  # fmt: skip


def _per_label(thresholds: Mapping[str, float] | None, classes: Sequence[str]) -> list[float]:
    return [float((thresholds or {}).get(name, 0.5)) for name in classes]


def _bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None):
    """Binary cross-entropy per entry, zero where the label is missing (NaN), and the mask."""
    from torch import nn

    observed = ~labels.isnan()
    per_entry = nn.functional.binary_cross_entropy_with_logits(
        logits.float(), labels.nan_to_num(0.0).float(), pos_weight=pos_weight, reduction="none"
    )
    return per_entry * observed, observed


@cache
def _masked_bce() -> type[nn.Module]:
    """The loss's class, made at first use (importing a task imports no torch)."""
    import torch
    from torch import nn

    class MaskedBCE(nn.Module):
        """BCE with logits over the observed labels only (a missing label teaches nothing),
        each label's positives weighted by ``pos_weight``."""

        def __init__(self, pos_weight: torch.Tensor | None) -> None:
            super().__init__()
            self.register_buffer("pos_weight", pos_weight, persistent=False)

        def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            weight = self.pos_weight if isinstance(self.pos_weight, torch.Tensor) else None
            per_entry, observed = _bce(logits, labels, weight)
            return per_entry.sum() / observed.sum().clamp(min=1)

    return MaskedBCE
