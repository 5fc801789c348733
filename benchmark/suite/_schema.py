"""Pydantic models of the suite file (``medbench suite schema`` prints them).

This layer knows pydantic and nothing of the implementations: names that registries own
(layouts, preprocessing ops, backbones, strategies, CAM methods) are checked when the
validation context holds a :class:`Names` (``benchmark.checks`` gives one), with the field
path in the error like any other problem.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchmark.errors import suggest


class LayoutInfo(Protocol):
    options: type[BaseModel]  # the layout's own settings (``options:``)
    needs_root: bool


class Names(Protocol):
    """The registries' answers about names; each method raises ``ValueError`` (with the
    expected names and close matches) for a name it does not know."""

    def layout(self, name: str) -> LayoutInfo: ...
    def op(self, spec: str | dict[str, Any]) -> None: ...
    def backbone(self, name: str) -> None: ...
    def strategy(self, kind: str) -> None: ...
    def cam(self, name: str) -> None: ...


def _names(info: ValidationInfo) -> Names | None:
    return (info.context or {}).get("names")


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
    ratios: tuple[float, float, float] | None = Field(
        None, description="train/val/test, e.g. [60, 20, 20]; sets both fractions"
    )
    stratify: bool = True
    groups: bool = Field(True, description="keep patients (and duplicates) in one split")
    official: bool = Field(True, description="keep the dataset's own train/val/test folders")
    official_val: bool = Field(True, description="false: carve val from train instead")
    folds: int | None = Field(None, ge=2, description="k-fold: test = one of this many folds")
    fold: int = Field(0, ge=0, description="which fold is the test split")

    @model_validator(mode="after")
    def _consistent(self) -> SplitConfig:
        if self.ratios is not None:
            train, val, test = self.ratios
            if min(self.ratios) <= 0:
                raise ValueError(f"ratios must all be positive, but got {list(self.ratios)}")
            self.test_fraction = test / (train + val + test)
            self.val_fraction = val / (train + val)
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"fold {self.fold} does not exist with folds: {self.folds}")
        return self


# The audit's perceptual hash has HASH_BITS bits; copies lie within NEAR_DISTANCE of their
# original (chosen with tests/perf/bench_duplicates.py; benchmark.data.audit uses both).
HASH_BITS, NEAR_DISTANCE = 1280, 96


class AuditConfig(_Strict):
    on_leak: Literal["warn", "drop", "fail"] = Field(
        "warn", description="test images duplicating, or sharing a group with, train/val images"
    )
    near_distance: int = Field(
        NEAR_DISTANCE,
        ge=-1,
        le=HASH_BITS,
        description=f"perceptual-hash bits of {HASH_BITS} for a near duplicate (-1: off)",
    )


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
    def _known_layout(cls, value: str, info: ValidationInfo) -> str:
        if names := _names(info):
            names.layout(value)
        return value

    @field_validator("options")
    @classmethod
    def _layout_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        layout, names = info.data.get("layout"), _names(info)
        if layout is None or names is None:
            return value
        return names.layout(layout).options.model_validate(value).model_dump()

    @field_validator("preprocess")
    @classmethod
    def _known_ops(cls, value: list, info: ValidationInfo) -> list:
        names = _names(info)
        for i, spec in enumerate(value if names else ()):
            try:
                names.op(spec)
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _root_when_needed(self, info: ValidationInfo) -> DatasetConfig:
        names = _names(info)
        if names and names.layout(self.layout).needs_root and self.root is None:
            raise ValueError(f"layout '{self.layout}' needs `root:`, the unpacked dataset folder")
        return self


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


class BackboneConfig(_Strict):
    name: str = Field(description="a timm model name")
    pretrained: bool = True
    weights: Path | None = Field(None, description="local weights file instead of the hub")
    image_size: int | None = Field(None, ge=16, description="overrides train.image_size")
    head: HeadConfig | None = Field(None, description="overrides the suite's head")

    _weights = field_validator("weights")(_resolve_path)

    @field_validator("name")
    @classmethod
    def _known_backbone(cls, value: str, info: ValidationInfo) -> str:
        if names := _names(info):
            names.backbone(value)
        return value


class FreezeStages(_Strict):
    stages: int = Field(ge=1, description="leading entries of timm's feature_info (stem first)")


class FreezeAllButLast(_Strict):
    trainable_last: int = Field(ge=0, description="train only the last N layers with weights")


Freeze = float | FreezeStages | FreezeAllButLast

_KIND_FIELDS = {  # settings that only one strategy reads
    "class_weights": {"cost_sensitive"},
    "temperature": {"supcon"},
    "projection_dim": {"supcon"},
    "encoder_epochs": {"supcon"},
}


class StrategyConfig(_Strict):
    kind: str | None = Field(None, description="registry name; defaults to the strategy's key")
    train: dict[str, Any] = Field(
        default_factory=dict, description="training settings this strategy changes (ablations)"
    )
    freeze: Freeze = Field(
        0.0,
        description="fraction of the backbone's layers (0.5), {stages: N} or {trainable_last: N}",
    )
    bn_trainable: bool = Field(
        False, description="keep BatchNorm layers of a frozen part trainable"
    )
    class_weights: Literal["auto"] | dict[str, float] = Field(
        "auto", description="cost_sensitive: inverse class frequency, or a weight per class"
    )
    temperature: float = Field(0.07, gt=0, description="supcon: temperature of the loss")
    projection_dim: int = Field(128, ge=2, description="supcon: size of the projection")
    encoder_epochs: int | None = Field(None, ge=1, description="supcon: stage-1 epochs")

    @field_validator("freeze")
    @classmethod
    def _fraction(cls, value: Freeze) -> Freeze:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"a freeze fraction must be within [0, 1], but got {value}")
        return value


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


class ScheduleConfig(_Strict):
    kind: Literal["none", "cosine", "step", "plateau"] = "none"
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, lt=1, description="step: decay factor")
    factor: float = Field(0.1, gt=0, lt=1, description="plateau: decay factor")
    patience: int = Field(2, ge=0, description="plateau: epochs without improvement")
    min_lr: float = Field(0.0, ge=0)


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    dropout: float = Field(0.0, ge=0, lt=1, description="before the classifier")
    image_size: int = Field(224, ge=16)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm")
    augment: AugmentConfig | None = None
    early_stopping: EarlyStoppingConfig | None = Field(default_factory=EarlyStoppingConfig)
    compile: bool = Field(
        False, description="torch.compile the model (worth it on a GPU for long trainings)"
    )


class LatencyConfig(_Strict):
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32], min_length=1)
    warmup: int = Field(10, ge=0, description="untimed calls first")
    iterations: int = Field(50, ge=1, description="timed calls per batch size")
    compile: bool = Field(
        False,
        description="also time the torch.compile'd model (CUDA graphs on a GPU), beside the "
        "eager one",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(b < 1 for b in value):
            raise ValueError(f"batch sizes must be positive, but got {value}")
        return value


class EvaluateConfig(_Strict):
    batch_size: int = Field(64, ge=1)
    bootstrap: int = Field(1000, ge=0, description="resamples for intervals; 0 turns them off")
    level: float = Field(0.95, gt=0, lt=1, description="interval level")
    alpha: float = Field(0.05, gt=0, lt=1, description="paired tests: significance level")
    latency: LatencyConfig | None = Field(default_factory=LatencyConfig)


_Fill = Literal["mean", "black", "blur"]
_FILL = "what hides a region: the mean colour, black, or the image blurred"


class LimeConfig(_Strict):
    """``explain.lime``: captum's LIME on SLIC superpixels."""

    samples: int = Field(256, ge=8, description="perturbed copies per image (a forward pass each)")
    superpixels: int = Field(50, ge=2, description="SLIC superpixels per image (about)")
    positive_only: bool = Field(
        True, description="scored map: superpixels for the class; false: |weight|, against too"
    )
    top_features: int = Field(5, ge=1, description="superpixels shown in the gallery")
    baseline: _Fill = Field("mean", description=_FILL)


class OcclusionConfig(_Strict):
    """``explain.occlusion``: a patch slid over the image."""

    patch: float = Field(0.125, gt=0, le=1, description="patch side, a fraction of the image's")
    stride: float = Field(0.0625, gt=0, le=1, description="its step, a fraction of the side")
    baseline: _Fill = Field("mean", description=_FILL)

    @model_validator(mode="after")
    def _no_holes(self) -> OcclusionConfig:
        if self.stride > self.patch:
            raise ValueError(
                "`stride <= patch` must hold (a larger step leaves pixels no patch covers), "
                f"but got (stride={self.stride}, patch={self.patch})"
            )
        return self


class IntegratedGradientsConfig(_Strict):
    """``explain.integrated_gradients``: gradients along a straight path."""

    steps: int = Field(32, ge=2, description="points on the path from the baseline to the image")
    baseline: _Fill = Field(
        "black", description="the path's start: the mean colour, black, or the image blurred"
    )


class ExplainConfig(_Strict):
    methods: list[str] = Field(
        default_factory=lambda: ["gradcam"], description="see `medbench list cams`"
    )
    per_class: int = Field(2, ge=0, description="gallery: correct and wrong examples per class")
    stages: bool = Field(False, description="also one Grad-CAM per backbone stage")
    layer: str | None = Field(None, description="module name; default: the last stage")
    max_images: int = Field(64, ge=1, description="test images scored for CAM quality")
    road_images: int = Field(
        8, ge=0, description="of those, scored by ROAD too (a sparse solve per image: slow)"
    )
    top_percent: float = Field(
        10.0, gt=0, lt=100, description="the map's top region: IoU with the mask, blurred for drop"
    )
    budget_s: float = Field(
        120.0, gt=0, description="slow methods: seconds per method and cell (scores and gallery)"
    )
    save_maps: int = Field(4, ge=0, description="raw maps saved as .npy per method")
    lime: LimeConfig = Field(default_factory=LimeConfig)
    occlusion: OcclusionConfig = Field(default_factory=OcclusionConfig)
    integrated_gradients: IntegratedGradientsConfig = Field(
        default_factory=IntegratedGradientsConfig
    )

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if names := _names(info):
            for name in value:
                names.cam(name)
        return value


class ParamSpec(_Strict):
    """One tuned setting: ``{low, high[, log, step]}`` (float, or int when both are ints)
    or ``{choices: [...]}``."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = Field(None, gt=0)
    choices: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _range_or_choices(self) -> ParamSpec:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either `choices` or `low`/`high`, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give `low` and `high` (a range) or `choices` (a list)")
        if self.low > self.high:
            raise ValueError(f"`low <= high` must hold, but got (low={self.low}, high={self.high})")
        if self.log and self.step is not None:
            raise ValueError("`log` and `step` cannot be combined")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs `low > 0`, but got low={self.low}")
        return self

    @property
    def is_int(self) -> bool:
        """A range written with integers (``{low: 16, high: 64}``) is sampled as integers."""
        ints = (self.low, self.high) if self.step is None else (self.low, self.high, self.step)
        return self.choices is None and all(isinstance(v, int) for v in ints)


class PrunerConfig(_Strict):
    kind: Literal["median", "hyperband", "none"] = "median"
    startup_trials: int = Field(2, ge=0, description="median: trials before pruning starts")
    warmup_epochs: int = Field(1, ge=0, description="median: epochs before a trial can be pruned")


def default_space() -> dict[str, ParamSpec]:
    return {
        "lr": ParamSpec(low=1e-5, high=1e-2, log=True),
        "dropout": ParamSpec(low=0.0, high=0.6),
        "freeze": ParamSpec(choices=[0.0, 0.5, 0.9]),
    }


class TuneConfig(_Strict):
    trials: int = Field(20, ge=1)
    objective: Monitor = "val/f1_weighted"
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    refit: Literal["train", "train+val"] = Field(
        "train", description="what the tuned model is retrained on before the test"
    )
    space: dict[str, ParamSpec] = Field(
        default_factory=default_space,
        description="setting → range; short names lr, dropout, freeze, batch_size, ...; "
        "dotted paths such as train.weight_decay or strategy.temperature. `freeze` is tuned "
        "only for strategies that freeze (finetune, partial, cost_sensitive)",
    )


class ReferenceRow(BaseModel):
    """One published result: which cell it matches, and its numbers (accuracy as a fraction,
    ``params_m`` in millions, ``train_min`` in minutes, latencies in ms)."""

    model_config = ConfigDict(extra="allow")

    dataset: str | None = None
    backbone: str | None = None
    strategy: str | None = None
    note: str = ""

    @model_validator(mode="after")
    def _numbers(self) -> ReferenceRow:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"reference value {key} must be a number, but got {value!r}")
        return self

    @property
    def values(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.model_extra or {}).items()}


class References(_Strict):
    source: str = Field(description="the paper (and table) the numbers come from")
    rows: list[ReferenceRow] = Field(min_length=1)


class Suite(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="MLflow experiment")
    description: str = ""
    seed: int = 42
    seeds: list[int] | None = Field(
        None, min_length=1, description="repeat the final training per seed (mean and std)"
    )
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    backbones: list[BackboneConfig] = Field(min_length=1)
    head: HeadConfig = Field(default_factory=HeadConfig)
    strategies: dict[str, StrategyConfig] = Field(
        default_factory=lambda: {"finetune": StrategyConfig()}, min_length=1
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig | None = Field(None, description="Optuna tuning per cell; null trains once")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    explain: ExplainConfig | None = Field(
        default_factory=ExplainConfig, description="CAM galleries and quality; null skips them"
    )
    audit: AuditConfig = Field(default_factory=AuditConfig)
    cells: list[str] | None = Field(
        None, description="run only the grid cells matching these dataset/backbone/strategy globs"
    )
    references: References | None = Field(None, description="published numbers to compare with")

    @model_validator(mode="after")
    def _strategy_training(self) -> Suite:
        for key, strategy in self.strategies.items():
            if strategy.train:
                try:
                    train_for(self.train, strategy)
                except ValueError as exc:
                    raise ValueError(f"strategies.{key}.train: {exc}") from None
        return self

    @field_validator("tune")
    @classmethod
    def _tunable_names(cls, value: TuneConfig | None) -> TuneConfig | None:
        for name in value.space if value is not None else ():
            param_path(name)
        return value

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
    def _known_strategies(
        cls, value: dict[str, StrategyConfig], info: ValidationInfo
    ) -> dict[str, StrategyConfig]:
        names = _names(info)
        for key, config in value.items():
            kind = config.kind or key
            try:
                if names:
                    names.strategy(kind)
            except ValueError as exc:
                hint = "" if config.kind else f" (or set `kind:` under strategies.{key})"
                raise ValueError(f"{exc}{hint}") from None
            for name in sorted(config.model_fields_set & set(_KIND_FIELDS)):
                if kind not in _KIND_FIELDS[name]:
                    owners = ", ".join(sorted(_KIND_FIELDS[name]))
                    raise ValueError(
                        f"strategies.{key}.{name} is a setting of the {owners} strategy, "
                        f"not of '{kind}'"
                    )
        return value


def train_for(train: TrainConfig, strategy: StrategyConfig) -> TrainConfig:
    """The suite's training settings with the strategy's changes merged in."""
    if not strategy.train:
        return train
    merged = _merge(train.model_dump(), strategy.train)
    return TrainConfig.model_validate(merged)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def suite_schema() -> dict[str, Any]:
    return Suite.model_json_schema()


_SHORT_PARAMS = {"freeze": ("strategy_config", "freeze")}
_PARAM_ROOTS = {"train": TrainConfig, "strategy": StrategyConfig, "head": HeadConfig}
_CELL_FIELD = {"train": "train", "strategy": "strategy_config", "head": "head"}


def param_path(name: str) -> tuple[str, ...]:
    """Where a tuned setting lives in a cell: ``lr`` → ``("train", "lr")``.

    Short names are the fields of ``train`` and of the strategy (``freeze``, ``temperature``);
    dotted names start at ``train.``, ``strategy.`` or ``head.``.
    """
    if "." not in name:
        if name in _SHORT_PARAMS:
            return _SHORT_PARAMS[name]
        for root, model in _PARAM_ROOTS.items():
            if root != "head" and name in model.model_fields:
                return (_CELL_FIELD[root], name)
        known = sorted(set(TrainConfig.model_fields) | set(StrategyConfig.model_fields) - {"kind"})
        raise ValueError(
            f"cannot tune '{name}': expected a training or strategy setting {known}, "
            "or a dotted path such as train.augment.rotate" + suggest(name, known)
        )
    root, *rest = name.split(".")
    if root not in _PARAM_ROOTS:
        raise ValueError(
            f"cannot tune '{name}': a dotted path starts with one of {sorted(_PARAM_ROOTS)}"
        )
    model: Any = _PARAM_ROOTS[root]
    for depth, part in enumerate(rest):
        fields = (
            model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        )
        if part not in fields:
            where = ".".join([root, *rest[:depth]])
            raise ValueError(
                f"cannot tune '{name}': {where} has no setting '{part}'" + suggest(part, fields)
            )
        model = _model_in(fields[part].annotation)
    return (_CELL_FIELD[root], *rest)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in an annotation (``X``, ``X | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None
