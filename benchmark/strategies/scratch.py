"""``scratch``: the same architecture from random weights (a baseline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.strategies._base import Strategy, register_strategy

if TYPE_CHECKING:
    from torch import nn


@register_strategy("scratch")
class Scratch(Strategy):
    """The same architecture from random weights, everything trained (a baseline)."""

    pretrained = False

    def prepare(self, model: nn.Module) -> None:
        for p in model.parameters():
            p.requires_grad_(True)
