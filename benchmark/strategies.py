"""Transfer strategies by registry name: what is frozen, which loss, which extra stages.

A strategy reads its settings (``freeze``, ``bn_trainable``, ``class_weights``,
``temperature``, ...) from the suite's strategy entry. Freezing counts *layers with
weights* (convolutions, normalisation and dense layers) of the backbone, in model order;
the classification head is always trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import MedbenchError
from benchmark.models import features, head_parameter_names
from benchmark.registry import Registry

if TYPE_CHECKING:
    from benchmark.data import Batches
    from benchmark.suite import StrategyConfig, TrainConfig

__all__ = [
    "Strategy",
    "backbone_layers",
    "class_weights",
    "freeze_backbone",
    "get_strategy",
    "list_strategies",
    "supcon_loss",
]

Prepare = Callable[[nn.Module, "StrategyConfig"], None]
Pretrain = Callable[[nn.Module, "Batches", "StrategyConfig", "TrainConfig"], list[dict]]


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    prepare: Prepare  # sets requires_grad on the model
    pretrained: bool = True  # False: the backbone starts from random weights
    weighted_loss: bool = False  # class-weighted cross-entropy
    pretrain: Pretrain | None = None  # a stage before classifier training
    tunes_freeze: bool = False  # whether `freeze` belongs in the default search space

    def criterion(
        self, config: StrategyConfig, *, counts: Sequence[int], classes: Sequence[str]
    ) -> nn.Module:
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
    for name, module in layers:  # every parameter outside the head belongs to one of these
        keep = bn_trainable and isinstance(module, nn.modules.batchnorm._BatchNorm)
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


def _supcon_pretrain(
    model: nn.Module, batches: Batches, config: StrategyConfig, train: TrainConfig
) -> list[dict]:
    """Stage 1: train the encoder and a projection head on the supervised contrastive loss."""
    from benchmark.train import create_optimizer

    model.to(batches.device)
    _unfreeze_all(model)
    with torch.no_grad():
        was_training = model.training
        model.eval()
        width = features(model, next(iter(batches))[0][:2]).shape[1]
        model.train(was_training)
    projector = nn.Sequential(
        nn.Linear(width, width), nn.ReLU(), nn.Linear(width, config.projection_dim)
    ).to(batches.device)
    head = head_parameter_names(model)
    encoder = [p for n, p in model.named_parameters() if n not in head]
    optimizer = create_optimizer([*encoder, *projector.parameters()], train)
    history = []
    for _ in range(config.encoder_epochs or train.epochs):
        model.train()
        total, seen = 0.0, 0
        for x, y in batches:
            loss = supcon_loss(projector(features(model, x)), y, config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(y), seen + len(y)
        history.append({"supcon/loss": total / max(seen, 1)})
    return history


@_register("supcon", pretrain=_supcon_pretrain)
def _supcon(model: nn.Module, config: StrategyConfig) -> None:
    """Stage 1 supervised contrastive encoder training, stage 2 a classifier on it, frozen."""
    freeze_backbone(model, 1.0, bn_trainable=False)
