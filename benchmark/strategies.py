"""Transfer strategies: what a cell trains of its backbone, by registry name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from benchmark.models import head_parameter_names
from benchmark.registry import Registry

__all__ = ["Strategy", "apply_strategy", "get_strategy", "list_strategies"]


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    prepare: Callable[..., None]  # (model, *, freeze) -> None; sets requires_grad


_STRATEGIES: Registry[Strategy] = Registry("strategy")


def _register(name: str):
    def decorator(fn: Callable[..., None]) -> Callable[..., None]:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        _STRATEGIES.register(name)(Strategy(name, doc, fn))
        return fn

    return decorator


def get_strategy(name: str) -> Strategy:
    return _STRATEGIES.get(name)


def list_strategies() -> list[Strategy]:
    return [s for _, s in _STRATEGIES.items()]


def apply_strategy(name: str, model: nn.Module, *, freeze: float = 0.0) -> None:
    """Prepare ``model`` for training under strategy ``name`` (in place)."""
    get_strategy(name).prepare(model, freeze=freeze)


def _freeze_leading(model: nn.Module, fraction: float) -> None:
    head = head_parameter_names(model)
    backbone = [p for n, p in model.named_parameters() if n not in head]
    cut = round(fraction * len(backbone))
    for i, p in enumerate(backbone):
        p.requires_grad_(i >= cut)
    for n, p in model.named_parameters():
        if n in head:
            p.requires_grad_(True)


@_register("finetune")
def _finetune(model: nn.Module, *, freeze: float = 0.0) -> None:
    """Train everything, optionally freezing the leading `freeze` fraction of the backbone."""
    _freeze_leading(model, freeze)


@_register("linear_probe")
def _linear_probe(model: nn.Module, *, freeze: float = 1.0) -> None:
    """Freeze the whole backbone and train the classification head only."""
    _freeze_leading(model, 1.0)
