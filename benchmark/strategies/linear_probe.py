"""``linear_probe``: the backbone frozen, the classification head trained."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from benchmark.strategies._base import Strategy, register_strategy
from benchmark.strategies._freeze import BN_TRAINABLE, freeze_backbone

if TYPE_CHECKING:
    from torch import nn


class LinearProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bn_trainable: bool = Field(False, description=BN_TRAINABLE)


@register_strategy("linear_probe")
class LinearProbe(Strategy):
    """Freeze the whole backbone and train the classification head only."""

    Options = LinearProbeOptions
    options: LinearProbeOptions

    def prepare(self, model: nn.Module) -> None:
        freeze_backbone(model, 1.0, bn_trainable=self.options.bn_trainable)
