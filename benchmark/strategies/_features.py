"""What the strategies that fit a head on frozen features at once (``knn``, ``logistic``,
``prototype``) share: :class:`HeadFit`, their base, which fits the head, scores it on the
validation features as ``train.fit`` scores an epoch, and installs it as the model's
classifier."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.strategies._base import Strategy

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.data import FeatureSet
    from benchmark.models import ProbeHead
    from benchmark.suite import TrainConfig
    from benchmark.tasks import Task
    from benchmark.train import History

__all__ = ["HeadFit", "require_every_class"]

VAL_BATCH = 4096  # rows scored at once on the validation features


class HeadFit(Strategy):
    """A head fitted on the frozen backbone's features at once, without epochs or images
    (training augmentation does not apply); one class per image."""

    multilabel = False

    def uses_features(self, train: TrainConfig) -> bool:
        return True

    def prepare(self, model: nn.Module) -> None:
        raise MedbenchError(
            f"the '{self.name}' strategy fits its head on the backbone's features "
            "(fit_features); it does not train through images."
        )

    def fit_head(self, train: FeatureSet, *, classes: Sequence[str], device: torch.device,
                 seed: int) -> ProbeHead:  # fmt: skip
        """The head fitted on ``train`` (on ``device``)."""
        raise NotImplementedError

    def fit_features(
        self,
        model: nn.Module,
        train: FeatureSet,
        val: FeatureSet | None,
        *,
        config: TrainConfig,
        classes: Sequence[str],
        device: torch.device,
        seed: int,
        task: Task | None = None,
        head: Mapping[str, Any] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        checkpoint: Path | None = None,
    ) -> tuple[dict[str, Any], History]:
        """See :meth:`Strategy.fit_features`: one row of validation scores, no epochs
        (``on_batch`` and ``checkpoint`` have nothing to do)."""
        from benchmark.data import FeatureBatches
        from benchmark.models import install_head
        from benchmark.strategies._freeze import freeze_backbone
        from benchmark.tasks import create_task
        from benchmark.train import History, validate

        freeze_backbone(model, 1.0)
        start = time.perf_counter()
        fitted = self.fit_head(train, classes=classes, device=device, seed=seed)
        fit_seconds = time.perf_counter() - start
        row: dict[str, float] = {}
        if val is not None:
            batches = FeatureBatches(val, batch_size=VAL_BATCH, device=device)
            row |= validate(fitted, batches, task=task)
        row["time/epoch_s"] = time.perf_counter() - start
        stopping = config.early_stopping
        monitor = (stopping.monitor if stopping else None) or (task or create_task()).objective
        history = History(epochs=[row], best_epoch=1, best_score=row.get(monitor, float("nan")),
                          train_seconds=fit_seconds, images_seen=len(train))  # fmt: skip
        if on_epoch is not None:
            on_epoch(1, row)
        return install_head(model, fitted, built=dict(head or {})), history


def require_every_class(labels: torch.Tensor, classes: Sequence[str], *, strategy: str) -> None:
    """A head with one row per class needs training features of every class."""
    import torch

    counts = torch.bincount(labels.cpu(), minlength=len(classes))
    missing = [name for name, n in zip(classes, counts.tolist(), strict=True) if n == 0]
    if missing:
        raise MedbenchError(
            f"{strategy}: the training split has no images of class(es) {missing}; it needs "
            "at least one per class (check the split or the shots)."
        )
