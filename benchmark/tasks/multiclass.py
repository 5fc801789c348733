"""``multiclass``: one class per image, softmax and cross-entropy (medbench's default)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from benchmark.tasks._base import Task, register_task

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from benchmark.evaluate import Evaluation


@register_task("multiclass")
class Multiclass(Task):
    """One class per image: softmax over the classes, cross-entropy, the likeliest class."""

    def loss(self, weights: torch.Tensor | None = None) -> nn.Module:
        from torch import nn

        return nn.CrossEntropyLoss(weight=weights)

    def balanced_weights(self, labels: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """Inverse class frequency, scaled to a mean of 1."""
        import torch

        counts = torch.bincount(labels.cpu().long(), minlength=len(classes)).float()
        inverse = 1.0 / counts.clamp(min=1)
        return inverse / inverse.sum() * len(classes)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(dim=1)

    def loss_sum(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        from torch import nn

        return nn.functional.cross_entropy(logits, labels, reduction="sum")

    def val_scores(self, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        from benchmark.evaluate import score

        scores = score(labels, probs.argmax(axis=1))
        scores["auroc_macro"] = float("nan")  # undefined unless every class is in the split
        if probs.shape[1] > 1 and len(set(labels.tolist())) == probs.shape[1]:
            from sklearn.metrics import roc_auc_score

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores["auroc_macro"] = float(
                    roc_auc_score(labels, probs[:, 1])
                    if probs.shape[1] == 2
                    else roc_auc_score(labels, probs, multi_class="ovr", average="macro")
                )
        return scores

    def evaluate(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                 ids: Sequence[str], thresholds: Mapping[str, float] | None,
                 prefix: str = "test/") -> Evaluation:  # fmt: skip
        from benchmark.evaluate import evaluate

        return evaluate(labels, probs, classes=list(classes), ids=list(ids), prefix=prefix)

    def intervals(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                  thresholds: Mapping[str, float] | None, resamples: int, seed: int,
                  level: float, prefix: str = "test/") -> dict[str, float]:  # fmt: skip
        from benchmark.evaluate import bootstrap_intervals

        return bootstrap_intervals(
            labels, probs, resamples=resamples, seed=seed, level=level, prefix=prefix
        )
