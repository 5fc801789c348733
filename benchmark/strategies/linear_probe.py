"""``linear_probe``: the backbone frozen, the classification head trained: on the frozen
backbone's features when nothing else would differ between epochs (no augmentation, BatchNorm
frozen), else through the backbone, every image every epoch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from benchmark.strategies._base import Strategy, register_strategy
from benchmark.strategies._freeze import BN_TRAINABLE, freeze_backbone

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.data import FeatureSet
    from benchmark.suite import TrainConfig
    from benchmark.tasks import Task
    from benchmark.train import History

VAL_BATCH = 1024  # validation rows per batch (no effect on the scores)


class LinearProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bn_trainable: bool = Field(
        False, description=BN_TRAINABLE + " (then it trains through the backbone)"
    )
    features: bool = Field(
        True,
        description="train on the cached features when nothing differs between epochs; "
        "false: through the backbone every epoch (the same result, slower: for comparisons)",
    )


@register_strategy("linear_probe")
class LinearProbe(Strategy):
    """Freeze the backbone and train the head only (on its features when not augmenting)."""

    Options = LinearProbeOptions
    options: LinearProbeOptions

    def prepare(self, model: nn.Module) -> None:
        freeze_backbone(model, 1.0, bn_trainable=self.options.bn_trainable)

    def uses_features(self, train: TrainConfig) -> bool:
        """Without augmentation, and with BatchNorm frozen, the frozen backbone gives every
        image the same features each epoch: the head trains on them, computed once. With
        augmentation every epoch sees new images, so it trains through the backbone."""
        return train.augment is None and not self.options.bn_trainable and self.options.features

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
        """The model's own classifier (with the dropout before it, ``config.dropout``)
        trained on the features by ``train.fit``, as the images' path trains it: the same
        optimiser, schedule, early stopping, checkpoints, seeded shuffling and per-epoch
        validation. The head config is ``head``'s, unchanged."""
        from benchmark.data import FeatureBatches
        from benchmark.models import FeatureHead
        from benchmark.tasks import create_task
        from benchmark.train import fit

        home = next(model.parameters()).device
        freeze_backbone(model, 1.0)
        net = FeatureHead(model, dropout=config.dropout)
        batches = FeatureBatches(
            train, batch_size=config.batch_size, shuffle=True, seed=seed, device=device
        )
        checks = None if val is None else FeatureBatches(val, batch_size=VAL_BATCH, device=device)
        task = task or create_task()
        criterion = self.criterion(task=task, labels=train.labels, classes=list(classes))
        history = fit(net, batches, checks, config=config, criterion=criterion,
                      on_epoch=on_epoch, on_batch=on_batch, checkpoint=checkpoint,
                      task=task)  # fmt: skip
        model.to(home)
        return dict(head or {"kind": "linear"}), history
