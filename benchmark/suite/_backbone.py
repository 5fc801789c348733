"""The suite's backbones (timm names, ``hf-hub:`` and ``local-dir:`` models, their timm
arguments and normalisation) and classification heads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from benchmark.suite._schema import _names, _resolve_path, _Strict

__all__ = ["BackboneConfig", "HeadConfig", "NormalizeConfig"]


class HeadConfig(_Strict):
    kind: Literal["linear", "mlp"] = Field(
        "linear", description="linear: pool, dropout, dense; mlp: hidden layers with BatchNorm"
    )
    hidden: list[int] = Field(
        default_factory=list, description="mlp hidden sizes, e.g. [64, 16, 8]"
    )
    pre_logits: bool = Field(
        True,
        description="false drops the backbone's own pre-logit layers (VGG's fc6/fc7) and "
        "pools the convolutional features directly, as Keras models without top do",
    )

    @model_validator(mode="after")
    def _hidden_for_mlp(self) -> HeadConfig:
        if self.kind == "mlp" and not self.hidden:
            raise ValueError("an mlp head needs `hidden:` sizes, e.g. [64, 16, 8]")
        if self.kind == "linear" and self.hidden:
            raise ValueError("`hidden:` is for `kind: mlp` heads")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, but got {self.hidden}")
        return self


class NormalizeConfig(_Strict):
    """The per-channel normalisation of the input, in place of the pretrained config's."""

    mean: list[float] = Field(
        min_length=3, max_length=3, description="per RGB channel, on the 0-1 scale of pixels"
    )
    std: list[float] = Field(
        min_length=3, max_length=3, description="per RGB channel, on the 0-1 scale of pixels"
    )

    @model_validator(mode="after")
    def _scale(self) -> NormalizeConfig:
        if not all(0 <= m <= 1 for m in self.mean) or not all(0 < s <= 1 for s in self.std):
            raise ValueError(
                "mean must lie within [0, 1] and std within (0, 1], on the 0-1 scale of pixels "
                f"(ImageNet's: mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]), but got "
                f"mean {self.mean}, std {self.std}"
            )
        return self


# timm.create_model's arguments that medbench sets itself, each from its own setting.
_SET_BY_MEDBENCH = {
    "num_classes": "the dataset's classes",
    "drop_rate": "train.dropout",
    "img_size": "image_size",
    "pretrained": "pretrained",
    "pretrained_cfg": "the backbone's name",
    "pretrained_cfg_overlay": "weights and normalize",
    "checkpoint_path": "weights",
    "cache_dir": "HF_HOME",
    "features_only": "the strategy",
}
_LOCAL_DIR = "local-dir:"
# YAML 1.1 (PyYAML) reads 1e-5 as a string, YAML 1.2 as a number: kwargs have no type to
# convert it to, and ``init_values: 1e-5`` (UNI's) is meant as a number.
_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml12_number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT.fullmatch(value):
        return float(value)
    if isinstance(value, list):
        return [_yaml12_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _yaml12_number(v) for k, v in value.items()}
    return value


class BackboneConfig(_Strict):
    name: str = Field(
        description="a timm model name (`medbench list backbones`), `hf-hub:ORG/NAME` "
        "(`@REVISION` optional) for a timm model on the Hugging Face Hub, or `local-dir:PATH` "
        "for a folder holding timm's config.json and weights (relative to the suite file)"
    )
    pretrained: bool = True
    weights: Path | None = Field(None, description="local weights file instead of the hub")
    image_size: int | None = Field(None, ge=16, description="overrides train.image_size")
    head: HeadConfig | None = Field(None, description="overrides the suite's head")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="more arguments of timm.create_model, e.g. UNI's {init_values: 1.0e-5, "
        "dynamic_img_size: true}; recorded with the model, which is rebuilt with them",
    )
    normalize: NormalizeConfig | None = Field(
        None,
        description="mean and std of the input in place of the pretrained config's; the "
        "normalisation used is recorded on the run (input.*) and with the model",
    )

    _weights = field_validator("weights")(_resolve_path)

    @field_validator("name")
    @classmethod
    def _known_backbone(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith(_LOCAL_DIR):  # a folder relative to the suite file, as paths are
            folder = _resolve_path(Path(value.removeprefix(_LOCAL_DIR)), info)
            value = _LOCAL_DIR + str(folder) if value != _LOCAL_DIR else value
        if names := _names(info):
            names.backbone(value)
        return value

    @field_validator("kwargs")
    @classmethod
    def _not_set_by_medbench(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & set(_SET_BY_MEDBENCH))
        if taken:
            raise ValueError(
                f"{taken} are set by medbench: use "
                + ", ".join(f"{_SET_BY_MEDBENCH[key]} for {key}" for key in taken)
            )
        return {key: _yaml12_number(v) for key, v in value.items()}

    @model_validator(mode="after")
    def _weights_for_timm_names(self) -> BackboneConfig:
        if self.weights is not None and self.name.startswith(("hf-hub:", _LOCAL_DIR)):
            raise ValueError(
                f"`weights:` is for timm model names; '{self.name}' brings its own weights "
                "(for other weights, write them with timm's config.json into a local-dir: folder)"
            )
        return self

    @model_serializer(mode="wrap")
    def _set_when_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``kwargs`` and ``normalize`` are left out when not given, so that the cells of
        suites without them keep their config hashes (and resume)."""
        data = handler(self)
        if not self.kwargs:
            data.pop("kwargs", None)
        if self.normalize is None:
            data.pop("normalize", None)
        return data
