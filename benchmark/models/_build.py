"""Backbone + classification head through ``timm.create_model``; weights; parameter counts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import timm
import torch
from safetensors.torch import load_model as _load_weights
from safetensors.torch import save_model as _save_weights
from timm.data import resolve_model_data_config
from torch import nn

from benchmark.errors import ModelError
from benchmark.models._heads import PROBE_HEADS, create_head
from benchmark.models._names import CONFIG_FILE, WEIGHTS_FILE, check_backbone

__all__ = [
    "ParamCounts",
    "TimmModel",
    "classifier_modules",
    "count_parameters",
    "create_model",
    "features",
    "head_parameter_names",
    "input_stats",
    "load_model",
    "save_model",
]


_PROBE_TIMEOUT_S = 3.0


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
) -> nn.Module:
    """Create ``name`` with a fresh ``num_classes`` head and dropout before the classifier.

    ``weights`` (a local ``.safetensors``/``.pth`` file) takes precedence over the hub;
    ``pretrained`` weights come from the Hugging Face Hub cache, or are downloaded once.
    ``head`` is ``{"kind": "linear"}`` (timm's own: pooling, dropout, dense) or
    ``{"kind": "mlp", "hidden": [64, 16, 8]}`` (dense, BatchNorm, ReLU, dropout per layer),
    or a probe head's config (``knn``, ``logistic``, ``prototype``: see ``_heads``), built
    empty for ``load_model`` to fill.
    Models with a fixed patch grid (ViTs) are built for ``image_size`` (timm resamples their
    position embeddings when loading pretrained weights).
    """
    check_backbone(name)
    kwargs: dict = {"num_classes": num_classes, "drop_rate": dropout}
    if weights is not None:
        if not weights.is_file():
            raise ModelError(f"weights file {weights} for backbone '{name}' does not exist.")
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(weights)})
    elif pretrained:
        _ensure_weights_available(name)
        kwargs["pretrained"] = True
    try:
        model = timm.create_model(name, **kwargs)
        grid = getattr(getattr(model, "patch_embed", None), "img_size", None)
        if image_size is not None and grid is not None and tuple(grid) != (image_size, image_size):
            model = timm.create_model(name, img_size=image_size, **kwargs)
    except (OSError, RuntimeError) as exc:
        if weights is None and not pretrained:
            raise
        raise ModelError(_weights_help(name, reason=str(exc).splitlines()[0])) from exc
    head = head or {}
    if not head.get("pre_logits", True):
        _drop_pre_logits(model, num_classes)
    if head.get("kind", "linear") == "mlp":
        _replace_classifier(model, _mlp(model, head["hidden"], num_classes, dropout))
    elif head.get("kind") in PROBE_HEADS:
        _replace_classifier(model, create_head(head, num_classes=num_classes))
    return model


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
    """The normalisation ``(mean, std)`` the backbone was (pre)trained with."""
    cfg = resolve_model_data_config(model)
    return tuple(cfg["mean"]), tuple(cfg["std"])


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
    """Rebuild a model written by :func:`save_model`; return it (in eval mode) and its config."""
    config = json.loads((folder / CONFIG_FILE).read_text())
    model = create_model(
        config["backbone"],
        num_classes=config["num_classes"],
        head=config.get("head"),
        image_size=config.get("image_size"),
    )
    _load_weights(model, str(folder / WEIGHTS_FILE))
    return model.eval(), config


def _ensure_weights_available(name: str) -> None:
    """Fail within seconds, with instructions, when pretrained weights cannot be had.

    Hugging Face Hub weights: in the local cache (``snapshot_download(local_files_only=True)``
    raises huggingface_hub's "not in the local cache" error otherwise), else not with
    ``HF_HUB_OFFLINE``, else the Hub answers one metadata request within
    :data:`_PROBE_TIMEOUT_S` (its downloads retry for most of a minute before giving up).
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        raise ModelError(f"timm has no pretrained weights for '{name}'. Use `pretrained: false`.")
    if cfg.hf_hub_id:
        try:
            snapshot_download(cfg.hf_hub_id, local_files_only=True)
            return
        except LocalEntryNotFoundError:
            pass
        filename = cfg.hf_hub_filename or "model.safetensors"
        url = hf_hub_url(cfg.hf_hub_id, filename)
    elif cfg.url:  # a URL, or (URL, file name) as timm's hub helpers read it
        url, filename = (
            (cfg.url, Path(urlparse(cfg.url).path).name) if isinstance(cfg.url, str) else cfg.url
        )
        if (Path(torch.hub.get_dir()) / "checkpoints" / filename).is_file():
            return
    else:
        return
    if constants.HF_HUB_OFFLINE:
        raise ModelError(
            _weights_help(name, reason="HF_HUB_OFFLINE is set and they are not cached")
        )
    try:
        if cfg.hf_hub_id:
            get_hf_file_metadata(url, timeout=_PROBE_TIMEOUT_S)
        else:
            urlopen(Request(url, method="HEAD"), timeout=_PROBE_TIMEOUT_S).close()
    except (HfHubHTTPError, HTTPError):
        return  # the server answered (a file name it does not have): downloads can go on
    except Exception as exc:  # DNS, refused, timed out: whatever the HTTP client raises
        host = urlparse(url).hostname
        raise ModelError(
            _weights_help(name, reason=f"{host} cannot be reached ({type(exc).__name__})")
        ) from None


def _weights_help(name: str, *, reason: str) -> str:
    return (
        f"pretrained weights for backbone '{name}' cannot be loaded: {reason}. Either connect "
        "to the internet once (timm caches them under ~/.cache/huggingface), or download them "
        f"elsewhere and give the file: `backbones: [{{name: {name}, weights: "
        f"path/to/{name}.safetensors}}]`, or train from scratch with `pretrained: false`."
    )
