"""The suite file: pydantic models, loading, ``${VAR}`` expansion, overrides, grid → cells.

A suite names datasets × backbones × strategies plus shared training settings; every
combination is a :class:`Cell` with a stable ``config_hash`` of its resolved settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchmark.data import get_layout, parse_op
from benchmark.errors import ModelError, SuiteError, suggest
from benchmark.models import check_backbone
from benchmark.strategies import get_strategy

__all__ = [
    "AugmentConfig",
    "BackboneConfig",
    "Cell",
    "DatasetConfig",
    "EarlyStoppingConfig",
    "EvaluateConfig",
    "SplitConfig",
    "StrategyConfig",
    "Suite",
    "TrainConfig",
    "expand_cells",
    "load_suite",
    "suite_schema",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    """Relative paths in a suite are relative to the suite file's folder."""
    base = (info.context or {}).get("base_dir")
    if value is None or value.is_absolute() or base is None:
        return value
    return (Path(base) / value).resolve()


class SplitConfig(_Strict):
    val_fraction: float = Field(0.2, gt=0, lt=1, description="of the non-test images")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="of all images, if no official test")
    stratify: bool = True


class DatasetConfig(_Strict):
    layout: str = Field(description="layout adapter; see `medbench list layouts`")
    root: Path | None = Field(None, description="unpacked dataset folder")
    options: dict[str, Any] = Field(default_factory=dict, description="layout-specific settings")
    split: SplitConfig = Field(default_factory=SplitConfig)
    preprocess: list[Any] = Field(
        default_factory=list, description="ops applied once before training"
    )

    _root = field_validator("root")(_resolve_path)

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str) -> str:
        get_layout(value)
        return value

    @field_validator("options")
    @classmethod
    def _layout_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        layout = info.data.get("layout")
        if layout is None:
            return value
        return get_layout(layout).options.model_validate(value).model_dump()

    @field_validator("preprocess")
    @classmethod
    def _known_ops(cls, value: list) -> list:
        for i, spec in enumerate(value):
            try:
                parse_op(spec)
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _root_when_needed(self) -> DatasetConfig:
        if get_layout(self.layout).needs_root and self.root is None:
            raise ValueError(f"layout '{self.layout}' needs `root:`, the unpacked dataset folder")
        return self


class BackboneConfig(_Strict):
    name: str = Field(description="a timm model name")
    pretrained: bool = True
    weights: Path | None = Field(None, description="local weights file instead of the hub")
    image_size: int | None = Field(None, ge=16, description="overrides train.image_size")

    _weights = field_validator("weights")(_resolve_path)

    @field_validator("name")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        try:
            check_backbone(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return value


class StrategyConfig(_Strict):
    kind: str | None = Field(None, description="registry name; defaults to the strategy's key")
    freeze: float = Field(0.0, ge=0, le=1, description="leading fraction of the backbone frozen")


class AugmentConfig(_Strict):
    rotate: float = Field(0.0, ge=0, le=180, description="degrees")
    shift: float = Field(0.0, ge=0, lt=1, description="fraction of the size")
    shear: float = Field(0.0, ge=0, lt=90, description="degrees")
    zoom: float = Field(0.0, ge=0, lt=1, description="fraction")
    hflip: bool = False
    vflip: bool = False
    brightness: float = Field(0.0, ge=0, lt=1)
    contrast: float = Field(0.0, ge=0, lt=1)


Monitor = Literal["val/loss", "val/accuracy", "val/f1_weighted"]


class EarlyStoppingConfig(_Strict):
    monitor: Monitor = "val/f1_weighted"
    patience: int = Field(5, ge=1, description="epochs without improvement before stopping")


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    dropout: float = Field(0.0, ge=0, lt=1, description="before the classifier")
    image_size: int = Field(224, ge=16)
    augment: AugmentConfig | None = None
    early_stopping: EarlyStoppingConfig | None = Field(default_factory=EarlyStoppingConfig)


class EvaluateConfig(_Strict):
    batch_size: int = Field(64, ge=1)


class Suite(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="MLflow experiment")
    description: str = ""
    seed: int = 42
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    backbones: list[BackboneConfig] = Field(min_length=1)
    strategies: dict[str, StrategyConfig] = Field(
        default_factory=lambda: {"finetune": StrategyConfig()}, min_length=1
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @field_validator("backbones", mode="before")
    @classmethod
    def _names_to_configs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("backbones")
    @classmethod
    def _unique_backbones(cls, value: list[BackboneConfig]) -> list[BackboneConfig]:
        names = [b.name for b in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backbones {dupes} are listed more than once")
        return value

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: dict[str, StrategyConfig]) -> dict[str, StrategyConfig]:
        for key, config in value.items():
            try:
                get_strategy(config.kind or key)
            except ValueError as exc:
                hint = "" if config.kind else f" (or set `kind:` under strategies.{key})"
                raise ValueError(f"{exc}{hint}") from None
        return value


class Cell(_Strict):
    """One dataset × backbone × strategy combination with every setting it runs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str
    seed: int
    dataset: str
    data: DatasetConfig
    backbone: BackboneConfig
    strategy: str
    strategy_config: StrategyConfig
    train: TrainConfig
    evaluate: EvaluateConfig

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.backbone.name}/{self.strategy}"

    @property
    def strategy_kind(self) -> str:
        return self.strategy_config.kind or self.strategy

    @property
    def image_size(self) -> int:
        return self.backbone.image_size or self.train.image_size

    def resolved(self) -> dict[str, Any]:
        """The cell's settings as plain data (what is hashed and logged)."""
        return self.model_dump(mode="json")

    @property
    def config_hash(self) -> str:
        payload = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def expand_cells(suite: Suite) -> list[Cell]:
    """The grid datasets × backbones × strategies, in the suite's order."""
    return [
        Cell(
            suite=suite.name,
            seed=suite.seed,
            dataset=dataset,
            data=data,
            backbone=backbone,
            strategy=strategy,
            strategy_config=strategy_config,
            train=suite.train,
            evaluate=suite.evaluate,
        )
        for dataset, data in suite.datasets.items()
        for backbone in suite.backbones
        for strategy, strategy_config in suite.strategies.items()
    ]


def suite_schema() -> dict[str, Any]:
    return Suite.model_json_schema()


# --- loading -------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_suite(
    path: str | Path,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Suite:
    """Read, override (``train.epochs=3``), expand ``${VAR}`` and validate a suite file."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SuiteError(
            f"{path} must hold a mapping of suite settings, but got {type(raw).__name__}."
        )
    for item in overrides:
        _apply_override(raw, item)
    raw = _expand(raw, os.environ if env is None else env, ())
    try:
        return Suite.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        raise SuiteError(format_validation_error(exc, source=str(path))) from None


def _expand(value: Any, env: Mapping[str, str], where: tuple) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, env, (*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, (*where, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise SuiteError(
            f"{_dotted(where)}: environment variable {name} is not set. Set it, or give a "
            f"default in the suite: ${{{name}:-value}}."
        )

    return _VAR.sub(substitute, value)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise SuiteError(f"--set expects KEY=VALUE (e.g. train.epochs=3), but got {item!r}.")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
    parts = key.strip().split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SuiteError(f"--set {item!r}: {'.'.join(parts[:depth])} has no item {part}.")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), dict | list):
                    node[part] = {} if node.get(part) is None else node[part]
                node = node[part]
        else:
            raise SuiteError(f"--set {item!r}: {'.'.join(parts[:depth])} is not a mapping.")


def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def format_validation_error(exc: ValidationError, *, source: str) -> str:
    """Readable lines: field path, problem, value found, and the allowed fields for typos."""
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not _is_union_tag(p)]
        where = _dotted(loc)
        msg = err["msg"].removeprefix("Value error, ")
        found = "" if err["type"] == "missing" else f" (found {_short(err.get('input'))})"
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            msg = "unknown setting"
            if allowed:
                msg += f"; expected one of {allowed}." + suggest(str(loc[-1]), allowed)
        elif err["type"] == "missing":
            msg = "required setting is missing"
        lines.append(f"  {where}: {msg}{found}")
    count = len(lines)
    head = f"{source} is not a valid suite ({count} problem{'s' if count > 1 else ''}):"
    return "\n".join([head, *lines, "Nothing was run. Fix the file and try again."])


def _is_union_tag(part: Any) -> bool:
    """pydantic adds union member names (``str``, ``dict[str,any]``) to error locations."""
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool"} or part.startswith(("list[", "dict["))
    )


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """Field names of the model found at ``loc`` inside a suite (empty when not a model)."""
    annotation: Any = Suite
    for part in loc:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = typing.get_args(annotation)
        origin = typing.get_origin(annotation)
        if origin in (dict, Mapping):
            annotation = args[1]
        elif origin in (list, Sequence):
            annotation = args[0]
        else:
            return []
    model = _model_in(annotation)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
