"""Backbone + classification head through ``timm.create_model``; weights; parameter counts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import timm
import torch
from safetensors.torch import load_model as _load_weights
from safetensors.torch import save_model as _save_weights
from timm.data import resolve_model_data_config
from torch import nn

from benchmark.errors import ModelError
from benchmark.models._heads import PROBE_HEADS, create_head
from benchmark.models._hub import ensure_available, hub_error, weights_help
from benchmark.models._names import CONFIG_FILE, WEIGHTS_FILE, check_backbone, split_source

__all__ = [
    "ParamCounts",
    "TimmModel",
    "backbone_stats",
    "classifier_modules",
    "count_parameters",
    "create_model",
    "features",
    "head_parameter_names",
    "input_config",
    "input_stats",
    "load_model",
    "rebuild_config",
    "save_model",
]


class TimmModel(Protocol):
    """What every timm model has beside ``nn.Module``'s own: for the type checker, which
    reads any other attribute of a module as a tensor or a submodule."""

    num_features: int
    pretrained_cfg: dict[str, Any]

    # timm annotates it as a module; distilled models (DeiT, LeViT, EfficientFormer) return
    # their two heads, (head, head_dist).
    def get_classifier(self) -> nn.Module | tuple[nn.Module, ...]: ...
    def forward_features(self, x: torch.Tensor) -> torch.Tensor: ...
    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor: ...


@dataclass(frozen=True)
class ParamCounts:
    total: int
    trainable: int
    backbone: int
    head: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def create_model(
    name: str,
    *,
    num_classes: int,
    dropout: float = 0.0,
    pretrained: bool = False,
    weights: Path | None = None,
    head: dict | None = None,
    image_size: int | None = None,
    kwargs: Mapping[str, Any] | None = None,
    normalize: Mapping[str, Sequence[float]] | None = None,
) -> nn.Module:
    """Create ``name`` with a fresh ``num_classes`` head and dropout before the classifier.

    ``name`` is a timm model name, ``hf-hub:ORG/NAME[@REVISION]`` or ``local-dir:PATH``.
    ``weights`` (a local ``.safetensors``/``.pth`` file) takes precedence over the hub;
    ``pretrained`` weights come from the Hugging Face Hub cache, or are downloaded once.
    ``kwargs`` go to ``timm.create_model`` as they are; ``normalize`` (``mean`` and ``std``)
    replaces the pretrained config's, so :func:`input_stats` gives it.
    ``head`` is ``{"kind": "linear"}`` (timm's own: pooling, dropout, dense) or
    ``{"kind": "mlp", "hidden": [64, 16, 8]}`` (dense, BatchNorm, ReLU, dropout per layer),
    or a probe head's config (``knn``, ``logistic``, ``prototype``: see ``_heads``), built
    empty for ``load_model`` to fill.
    Models with a fixed patch grid (ViTs) are built for ``image_size`` (timm resamples their
    position embeddings when loading pretrained weights); one whose patch embedding takes any
    size (SAM's ViT, a ViT with ``dynamic_img_size``) is kept at its own grid and resamples
    them per input, as timm builds it (SAM's checkpoint would not load at another grid).
    """
    check_backbone(name)
    if weights is not None and not weights.is_file():
        raise ModelError(f"weights file {weights} for backbone '{name}' does not exist.")
    # timm reads files: pretrained weights, or a hf-hub:/local-dir: name's config (and weights)
    reads = weights is None and (pretrained or split_source(name)[0] is not None)
    if reads:
        ensure_available(name, pretrained=pretrained)
    args = _timm_args(
        num_classes=num_classes,
        dropout=dropout,
        pretrained=pretrained,
        weights=weights,
        kwargs=kwargs,
        normalize=normalize,
    )
    try:
        model = timm.create_model(name, **args)
        embed = getattr(model, "patch_embed", None)
        grid = getattr(embed, "img_size", None)
        fixed = getattr(embed, "strict_img_size", True)  # False: it takes any size as it is
        if image_size is not None and grid is not None and fixed and tuple(grid) != (
            image_size, image_size
        ):  # fmt: skip
            model = timm.create_model(name, **{**args, "img_size": image_size})
    except TypeError as exc:
        if (error := _kwargs_error(name, kwargs or {}, exc)) is None:
            raise
        raise error from None
    except (OSError, RuntimeError) as exc:
        if weights is None and not reads:
            raise
        error = hub_error(name, exc)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise (error or ModelError(weights_help(name, reason=reason))) from exc
    head = head or {}
    if not head.get("pre_logits", True):
        _drop_pre_logits(model, num_classes)
    if head.get("kind", "linear") == "mlp":
        _replace_classifier(model, _mlp(model, head["hidden"], num_classes, dropout))
    elif head.get("kind") in PROBE_HEADS:
        _replace_classifier(model, create_head(head, num_classes=num_classes))
    return model


def _timm_args(
    *,
    num_classes: int,
    dropout: float,
    pretrained: bool,
    weights: Path | None,
    kwargs: Mapping[str, Any] | None,
    normalize: Mapping[str, Sequence[float]] | None,
) -> dict[str, Any]:
    """``timm.create_model``'s arguments: the suite's ``kwargs``, then medbench's own (the
    head, the weights and a normalisation in place of the pretrained config's)."""
    args: dict[str, Any] = {**(kwargs or {}), "num_classes": num_classes, "drop_rate": dropout}
    overlay: dict[str, Any] = {}
    if normalize is not None:
        overlay |= {"mean": tuple(normalize["mean"]), "std": tuple(normalize["std"])}
    if weights is not None:
        args["pretrained"] = True
        overlay["file"] = str(weights)
    elif pretrained:
        args["pretrained"] = True
    if overlay:
        args["pretrained_cfg_overlay"] = overlay
    return args


def _kwargs_error(name: str, kwargs: Mapping[str, Any], exc: TypeError) -> ModelError | None:
    """The one-line error of a model constructor refusing the suite's ``kwargs``; ``None``
    when the error is not about them."""
    if not kwargs:
        return None
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    found = re.search(r"keyword argument '(\w+)'", message)
    if found is None:
        return ModelError(
            f"backbone '{name}' refused its `kwargs:` {sorted(kwargs)} (TypeError: {message}); "
            "check their values against the model's class in timm."
        )
    if found.group(1) not in kwargs:
        return None
    return ModelError(
        f"backbone '{name}' does not take `kwargs: {{{found.group(1)}: ...}}` (TypeError: "
        f"{message}); remove it, or see the arguments of the model's class in timm."
    )


def _drop_pre_logits(model: nn.Module, num_classes: int) -> None:
    """Pool the last feature map straight into the classifier (VGG without fc6/fc7)."""
    pre_logits = getattr(model, "pre_logits", None)
    if not isinstance(pre_logits, nn.Module) or not any(True for _ in pre_logits.parameters()):
        return  # nothing to drop: the classifier already reads the pooled features
    model.pre_logits = nn.Identity()
    _replace_classifier(model, nn.Linear(cast(TimmModel, model).num_features, num_classes))


def _mlp(model: nn.Module, hidden: list[int], num_classes: int, dropout: float) -> nn.Sequential:
    classifier = cast(TimmModel, model).get_classifier()
    if not isinstance(classifier, nn.Linear):
        raise ModelError(
            f"an mlp head needs a dense classifier, but {type(model).__name__} has "
            f"{type(classifier).__name__}; use `head: {{kind: linear}}`."
        )
    layers: list[nn.Module] = []
    width = classifier.in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _replace_classifier(model: nn.Module, module: nn.Module) -> None:
    timm_model = cast(TimmModel, model)
    name = timm_model.pretrained_cfg.get("classifier")
    if not isinstance(name, str):
        raise ModelError(f"cannot find the classifier of {type(model).__name__} to replace.")
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)
    if timm_model.get_classifier() is not module:
        raise ModelError(f"cannot replace the classifier of {type(model).__name__}.")


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pooled features the classifier reads (timm's pre-logits)."""
    timm_model = cast(TimmModel, model)
    return timm_model.forward_head(timm_model.forward_features(x), pre_logits=True)


def classifier_modules(model: nn.Module) -> list[nn.Module]:
    """The classifier: one module, or a distilled model's two heads (head and head_dist)."""
    head = cast(TimmModel, model).get_classifier()
    return list(head) if isinstance(head, tuple) else [head]


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names (in ``model.named_parameters()``) of the classifier's parameters."""
    ids = {id(p) for module in classifier_modules(model) for p in module.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def count_parameters(model: nn.Module) -> ParamCounts:
    head = head_parameter_names(model)
    total = trainable = head_count = 0
    for name, p in model.named_parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        head_count += p.numel() if name in head else 0
    return ParamCounts(
        total=total, trainable=trainable, backbone=total - head_count, head=head_count
    )


def input_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation ``(mean, std)`` the backbone was (pre)trained with, or the one
    :func:`create_model` was given in its place."""
    cfg = resolve_model_data_config(model)
    return tuple(cfg["mean"]), tuple(cfg["std"])


def backbone_stats(
    name: str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    normalize: Mapping[str, Sequence[float]] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation ``(mean, std)`` that :func:`create_model` gives backbone ``name``
    (:func:`input_stats` of the model it builds), known before it is built: ``normalize``
    when given, else its pretrained config's (read from a model built on the meta device:
    no weights read, no memory taken)."""
    if normalize is not None:
        return tuple(normalize["mean"]), tuple(normalize["std"])
    check_backbone(name)
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, **(kwargs or {}))
    return input_stats(model)


def input_config(model: nn.Module) -> dict[str, Any]:
    """The input the backbone's config asks for, as timm resolves it: ``mean`` and ``std``
    (those :func:`create_model` was given in their place), ``input_size`` (height, width)
    and ``interpolation``."""
    cfg = resolve_model_data_config(model)
    return {
        "mean": [float(m) for m in cfg["mean"]],
        "std": [float(s) for s in cfg["std"]],
        "input_size": [int(n) for n in cfg["input_size"][1:]],
        "interpolation": cfg["interpolation"],
    }


def rebuild_config(model: nn.Module, name: str) -> dict[str, Any]:
    """What rebuilds a ``hf-hub:``/``local-dir:`` backbone without its source (the Hub, a
    token, the folder): timm's ``architecture`` and the ``model_args`` of its config.json,
    which :func:`load_model` reads from a model's config. Empty for timm names."""
    architecture = cast(TimmModel, model).pretrained_cfg.get("architecture")
    model_args = getattr(model, "pretrained_model_args", None)  # set by timm >= 1.0.2x
    if split_source(name)[0] is None or not architecture or model_args is None:
        return {}
    return {"architecture": architecture, "model_args": dict(model_args)}


def save_model(model: nn.Module, folder: Path, *, config: dict) -> None:
    """Write ``model.safetensors`` and ``config.json`` (no pickle) into ``folder``.

    ``config`` must hold ``backbone`` and ``num_classes``; everything needed to predict
    (class names, input size, normalisation, preprocessing) belongs there too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    # Channels-last weights (a GPU training's layout) are written contiguous: older
    # safetensors versions refuse them otherwise.
    _save_weights(model, str(folder / WEIGHTS_FILE), force_contiguous=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))


def load_model(folder: Path) -> tuple[nn.Module, dict]:
    """Rebuild a model written by :func:`save_model`; return it (in eval mode) and its config.

    The backbone is rebuilt with the config's ``kwargs`` and normalisation (``mean``,
    ``std``); a ``hf-hub:``/``local-dir:`` one from its ``architecture`` and ``model_args``
    when the config has them (see :func:`rebuild_config`), so neither the Hub nor the folder
    is needed again.
    """
    config = json.loads((folder / CONFIG_FILE).read_text())
    has_stats = "mean" in config and "std" in config
    model = create_model(
        config.get("architecture") or config["backbone"],
        num_classes=config["num_classes"],
        head=config.get("head"),
        image_size=config.get("image_size"),
        kwargs={**config.get("model_args", {}), **config.get("kwargs", {})},
        normalize={"mean": config["mean"], "std": config["std"]} if has_stats else None,
    )
    _load_weights(model, str(folder / WEIGHTS_FILE))
    return model.eval(), config
