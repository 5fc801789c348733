"""``partial``: freeze part of the backbone (the breast paper's all-but-the-last-10 layers)."""

from __future__ import annotations

from benchmark.strategies._base import register_strategy
from benchmark.strategies.finetune import Finetune


@register_strategy("partial")
class Partial(Finetune):
    """Freeze part of the backbone: a fraction, {stages: N} or {trainable_last: N} layers."""
