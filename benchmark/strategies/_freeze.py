"""Freezing shared by the strategies: which layers of a backbone have weights, how many of
them to freeze (a fraction, ``{stages: N}`` or ``{trainable_last: N}``) and the options
model of strategies that freeze (``freeze``, ``bn_trainable``).

Freezing counts *layers with weights* (convolutions, normalisation and dense layers) of the
backbone, in model order; the classification head is always trained. torch is imported
where a function computes, so the options models stay readable without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from benchmark.errors import MedbenchError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "BN_TRAINABLE",
    "Freeze",
    "FreezeAllButLast",
    "FreezeOptions",
    "FreezeStages",
    "backbone_layers",
    "freeze_backbone",
]


class FreezeStages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: int = Field(ge=1, description="leading entries of timm's feature_info (stem first)")


class FreezeAllButLast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trainable_last: int = Field(ge=0, description="train only the last N layers with weights")


Freeze = float | FreezeStages | FreezeAllButLast
BN_TRAINABLE = "keep BatchNorm layers of a frozen part trainable"


class FreezeOptions(BaseModel):
    """The settings of a strategy that freezes the leading part of the backbone."""

    model_config = ConfigDict(extra="forbid")

    freeze: Freeze = Field(
        0.0,
        description="fraction of the backbone's layers (0.5), {stages: N} or {trainable_last: N}",
    )
    bn_trainable: bool = Field(False, description=BN_TRAINABLE)

    @field_validator("freeze")
    @classmethod
    def _fraction(cls, value: Freeze) -> Freeze:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"a freeze fraction must be within [0, 1], but got {value}")
        return value


def backbone_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's modules that own weights, in model order (the head excluded)."""
    from benchmark.models import classifier_modules

    head = {id(p) for module in classifier_modules(model) for p in module.parameters()}
    return [
        (name, module)
        for name, module in model.named_modules()
        if any(id(p) not in head for p in module.parameters(recurse=False))
    ]


def freeze_backbone(model: nn.Module, freeze: Freeze, *, bn_trainable: bool = False) -> None:
    """Freeze the leading layers: a fraction, ``stages: N`` or ``trainable_last: N``; every
    other parameter, the head's included, is trained."""
    layers = backbone_layers(model)
    frozen = _frozen_layers(model, layers, freeze)
    from torch.nn.modules.batchnorm import _BatchNorm

    from benchmark.models import classifier_modules

    for name, module in layers:  # every parameter outside the head belongs to one of these
        keep = bn_trainable and isinstance(module, _BatchNorm)
        for p in module.parameters(recurse=False):
            p.requires_grad_(name not in frozen or keep)
    for module in classifier_modules(model):
        for p in module.parameters():
            p.requires_grad_(True)


def _frozen_layers(
    model: nn.Module, layers: list[tuple[str, nn.Module]], freeze: Freeze
) -> set[str]:
    names = [name for name, _ in layers]
    if isinstance(freeze, FreezeAllButLast):
        return set(names[: max(len(names) - freeze.trainable_last, 0)])
    if not isinstance(freeze, FreezeStages):
        return set(names[: round(float(freeze) * len(names))])
    info = getattr(model, "feature_info", None)
    stages = [entry["module"] for entry in info] if info else []
    if not 1 <= freeze.stages <= len(stages):
        raise MedbenchError(
            f"`freeze: {{stages: {freeze.stages}}}`: {type(model).__name__} has {len(stages)} "
            f"stages {stages}; expected 1 to {len(stages)}."
        )
    target = stages[freeze.stages - 1]
    order = [name for name, _ in model.named_modules()]
    end = max(i for i, name in enumerate(order) if name == target or name.startswith(target + "."))
    return set(order[: end + 1]) & set(names)
