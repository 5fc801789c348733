"""Transfer strategies by registry name: what is frozen, which loss, which extra stages.

A strategy reads its settings (``freeze``, ``bn_trainable``, ``class_weights``,
``temperature``, ...) from the suite's strategy entry. Freezing counts *layers with
weights* (convolutions, normalisation and dense layers) of the backbone, in model order;
the classification head is always trained.

Importing this module imports no torch (``medbench suite validate`` checks strategy names
through it); the functions that compute import it where they run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.registry import Registry
from benchmark.suite import StrategyConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "Stage",
    "Strategy",
    "backbone_layers",
    "class_weights",
    "freeze_backbone",
    "get_strategy",
    "list_strategies",
    "supcon_loss",
]

Prepare = Callable[["nn.Module", StrategyConfig], None]


@dataclass(frozen=True)
class Stage:
    """A training stage before the classifier's, run by ``train.fit`` like any training:
    ``net`` (sharing the model's weights) is trained on ``loss(net(x), y)`` for ``epochs``
    (``None``: the suite's ``train.epochs``), with ``views`` augmented views of each image."""

    net: nn.Module
    loss: nn.Module
    epochs: int | None = None
    views: int = 1


Pretrain = Callable[["nn.Module", StrategyConfig, "torch.Tensor"], Stage]


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    prepare: Prepare  # sets requires_grad on the model
    pretrained: bool = True  # False: the backbone starts from random weights
    weighted_loss: bool = False  # class-weighted cross-entropy
    pretrain: Pretrain | None = None  # (model, config, example batch) → the stage before
    tunes_freeze: bool = False  # whether `freeze` belongs in the default search space

    def criterion(
        self, config: StrategyConfig, *, counts: Sequence[int], classes: Sequence[str]
    ) -> nn.Module:
        from torch import nn

        weights = (
            class_weights(config.class_weights, counts, classes) if self.weighted_loss else None
        )
        return nn.CrossEntropyLoss(weight=weights)


_STRATEGIES: Registry[Strategy] = Registry("strategy")


def _register(name: str, description: str | None = None, **options: Any):
    """Register ``fn`` as strategy ``name``, described by ``description`` or its docstring."""

    def decorator(fn: Prepare) -> Prepare:
        doc = description or (fn.__doc__ or "").strip().splitlines()[0]
        _STRATEGIES.register(name)(Strategy(name, doc, fn, **options))
        return fn

    return decorator


def get_strategy(name: str) -> Strategy:
    return _STRATEGIES.get(name)


def list_strategies() -> list[Strategy]:
    return [s for _, s in _STRATEGIES.items()]


# --- freezing -----------------------------------------------------------------------------


def backbone_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's modules that own weights, in model order (the head excluded)."""
    head = {id(p) for p in model.get_classifier().parameters()}
    return [
        (name, module)
        for name, module in model.named_modules()
        if any(id(p) not in head for p in module.parameters(recurse=False))
    ]


def freeze_backbone(model: nn.Module, freeze: Any, *, bn_trainable: bool = False) -> None:
    """Freeze the leading layers: a fraction, ``stages: N`` or ``trainable_last: N``."""
    layers = backbone_layers(model)
    frozen = _frozen_layers(model, layers, freeze)
    from torch.nn.modules.batchnorm import _BatchNorm

    for name, module in layers:  # every parameter outside the head belongs to one of these
        keep = bn_trainable and isinstance(module, _BatchNorm)
        for p in module.parameters(recurse=False):
            p.requires_grad_(name not in frozen or keep)
    for p in model.get_classifier().parameters():
        p.requires_grad_(True)


def _frozen_layers(model: nn.Module, layers: list[tuple[str, nn.Module]], freeze: Any) -> set[str]:
    names = [name for name, _ in layers]
    if isinstance(freeze, int | float):
        return set(names[: round(float(freeze) * len(names))])
    if hasattr(freeze, "trainable_last"):
        return set(names[: max(len(names) - freeze.trainable_last, 0)])
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


def _unfreeze_all(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(True)


@_register(
    "cost_sensitive",
    "Fine-tune with class-weighted cross-entropy (inverse frequency, or given weights).",
    weighted_loss=True,
    tunes_freeze=True,
)
@_register(
    "partial",
    "Freeze part of the backbone: a fraction, {stages: N} or {trainable_last: N} layers.",
    tunes_freeze=True,
)
@_register(
    "finetune",
    "Train everything (optionally with the leading `freeze` part of the backbone frozen).",
    tunes_freeze=True,
)
def _freeze_as_configured(model: nn.Module, config: StrategyConfig) -> None:
    freeze_backbone(model, config.freeze, bn_trainable=config.bn_trainable)


@_register("linear_probe")
def _linear_probe(model: nn.Module, config: StrategyConfig) -> None:
    """Freeze the whole backbone and train the classification head only."""
    freeze_backbone(model, 1.0, bn_trainable=config.bn_trainable)


@_register("scratch", pretrained=False)
def _scratch(model: nn.Module, config: StrategyConfig) -> None:
    """The same architecture from random weights, everything trained (a baseline)."""
    _unfreeze_all(model)


def class_weights(spec: Any, counts: Sequence[int], classes: Sequence[str]) -> torch.Tensor:
    """Per-class loss weights: ``"auto"`` (inverse frequency, mean 1) or ``{class: weight}``."""
    import torch

    if spec == "auto":
        inverse = torch.tensor([1.0 / max(n, 1) for n in counts])
        return inverse / inverse.sum() * len(counts)
    unknown = sorted(set(spec) - set(classes))
    if unknown:
        raise MedbenchError(
            f"class_weights name classes {unknown} that the dataset does not have; "
            f"its classes are {list(classes)}."
        )
    return torch.tensor([float(spec.get(name, 1.0)) for name in classes])


# --- supervised contrastive ---------------------------------------------------------------


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) of embeddings ``z`` (N × D)."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(z.float(), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    count = positives.sum(dim=1)
    anchors = count > 0
    if not anchors.any():
        return z.sum() * 0.0
    summed = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return -(summed[anchors] / count[anchors]).mean()


def _supcon_stage(model: nn.Module, config: StrategyConfig, example: torch.Tensor) -> Stage:
    """Stage 1: the encoder and a projection head trained on the supervised contrastive
    loss (the classifier waits: it is trained in stage 2)."""
    import torch
    from torch import nn

    from benchmark.models import features, head_parameter_names

    with torch.no_grad():
        was_training = model.training
        width = features(model.to(example.device).eval(), example[:2]).shape[1]
        model.train(was_training)
    head = head_parameter_names(model)
    for name, p in model.named_parameters():
        p.requires_grad_(name not in head)

    class Projected(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model
            self.projector = nn.Sequential(
                nn.Linear(width, width), nn.ReLU(), nn.Linear(width, config.projection_dim)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.projector(features(self.encoder, x))

    class SupConLoss(nn.Module):
        def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return supcon_loss(z, labels, config.temperature)

    return Stage(Projected(), SupConLoss(), epochs=config.encoder_epochs, views=2)


@_register("supcon", pretrain=_supcon_stage)
def _supcon(model: nn.Module, config: StrategyConfig) -> None:
    """Stage 1 supervised contrastive encoder training, stage 2 a classifier on it, frozen."""
    freeze_backbone(model, 1.0, bn_trainable=False)
