"""``finetune``: train everything, optionally with the leading part of the backbone frozen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.strategies._base import Strategy, register_strategy
from benchmark.strategies._freeze import FreezeOptions, freeze_backbone

if TYPE_CHECKING:
    from torch import nn


@register_strategy("finetune")
class Finetune(Strategy):
    """Train everything (optionally with the leading `freeze` part of the backbone frozen)."""

    Options = FreezeOptions
    options: FreezeOptions

    def prepare(self, model: nn.Module) -> None:
        freeze_backbone(model, self.options.freeze, bn_trainable=self.options.bn_trainable)
