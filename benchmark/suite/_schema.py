"""Pydantic models of the suite file's parts (``medbench suite schema`` prints them all):
datasets, training, evaluation, references. Backbones and heads are in ``_backbone``, the
parts that hold plugins' settings in ``_plugins``, tuning in ``_tuning``, the whole suite in
``_suite``.

This layer knows pydantic and nothing of the implementations: names that registries own
(layouts, preprocessing ops, backbones, strategies, explanation methods) and the settings
of plugins (a layout's ``options``, a strategy's settings, an explanation method's section)
are checked when the validation context holds a :class:`Names` (``benchmark.checks`` gives
one), with the field path in the error like any other problem. Without it, a plugin's
settings are checked for their structure only.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from benchmark.errors import suggest
from benchmark.suite._references import ReferenceRow as ReferenceRow  # re-exported
from benchmark.suite._references import References as References


class LayoutInfo(Protocol):
    options: type[BaseModel]  # the layout's own settings (``options:``)
    needs_root: bool
    # the task of a dataset that says its own (``task(root, options)``; None: none known)
    task: Any


class Names(Protocol):
    """The registries' answers about names: ``layout``, ``op`` and ``backbone`` raise
    ``ValueError`` (with the expected names and close matches) for a name they do not know;
    ``strategies``, ``methods`` and ``tasks`` map every strategy, explanation method and task
    type to its options model (``None``: a method without settings)."""

    def layout(self, name: str) -> LayoutInfo: ...
    def op(self, spec: object) -> None: ...
    def backbone(self, name: str) -> None: ...
    def strategies(self) -> Mapping[str, type[BaseModel]]: ...
    def methods(self) -> Mapping[str, type[BaseModel] | None]: ...
    def tasks(self) -> Mapping[str, type[BaseModel]]: ...
    def corruptions(self) -> Mapping[str, str]: ...


def problem(loc: tuple[Any, ...], message: str, *, value: Any, kind: str = "value_error"):
    """One line of a :class:`ValidationError`: ``message`` about ``value`` at ``loc``
    (relative to the field whose validator raises it)."""
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return InitErrorDetails(type=error, loc=loc, input=value)


class Problems(list):
    """Lines gathered by a validator, raised together as one :class:`ValidationError`."""

    def raise_if_any(self, title: str) -> None:
        if self:
            raise ValidationError.from_exception_data(title, list(self))


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


Monitor = Literal["val/loss", "val/accuracy", "val/f1_weighted", "val/auroc_macro"]


class TaskConfig(BaseModel):
    """What is predicted per image: ``multiclass`` (one class, the default), ``binary`` (a
    positive class at a threshold), ``multilabel`` (several findings) or ``ordinal``
    (grades); written as a name, or as ``{kind: binary, positive: cancer}`` with the type's
    own settings (`medbench suite schema` lists them)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field("multiclass", description="multiclass, binary, multilabel or ordinal")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="wrap")
    @classmethod
    def _options(cls, value: Any, handler, info: ValidationInfo) -> TaskConfig:
        config = handler(value)
        names = _names(info)
        if names is None:
            return config
        known = names.tasks()
        if config.kind not in known:
            raise ValueError(f"unknown task '{config.kind}': expected one of {sorted(known)}")
        options = known[config.kind].model_validate(config.model_extra or {})
        return cls.model_construct(
            kind=config.kind, **options.model_dump(mode="json", exclude_none=True)
        )

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def monitor(self) -> Monitor:
        """The default tuning objective and early-stopping monitor: AUROC where a threshold
        decides (binary, multi-label: accuracy at 0.5 says little there), else weighted F1."""
        return "val/auroc_macro" if self.kind in ("binary", "multilabel") else "val/f1_weighted"


class DatasetConfig(_Strict):
    layout: str = Field(description="layout adapter; see `medbench list layouts`")
    root: Path | None = Field(None, description="unpacked dataset folder")
    options: dict[str, Any] = Field(default_factory=dict, description="layout-specific settings")
    task: TaskConfig = Field(default_factory=TaskConfig)
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
        if names is None:
            return value
        for i, spec in enumerate(value):
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

    @model_validator(mode="after")
    def _layout_task(self, info: ValidationInfo) -> DatasetConfig:
        """A dataset that says its own task (MedMNIST's INFO) gets it where ``task:`` is not
        written."""
        names = _names(info)
        if names is None or "task" in self.model_fields_set:
            return self
        spec = names.layout(self.layout)
        if getattr(spec, "task", None) is None:
            return self
        task = spec.task(self.root, spec.options.model_validate(self.options))
        if task is not None:
            self.task = TaskConfig.model_validate(task, context=info.context)
        return self

    @model_serializer(mode="wrap")
    def _task_when_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The default task (multiclass) is left out, so that the cells of suites without
        ``task:`` keep their config hashes (and resume)."""
        data = handler(self)
        if self.task.kind == "multiclass" and not self.task.options:
            data.pop("task", None)
        return data


class AugmentConfig(_Strict):
    rotate: float = Field(0.0, ge=0, le=180, description="degrees")
    shift: float = Field(0.0, ge=0, lt=1, description="fraction of the size")
    shear: float = Field(0.0, ge=0, lt=90, description="degrees")
    zoom: float = Field(0.0, ge=0, lt=1, description="fraction")
    hflip: bool = False
    vflip: bool = False
    brightness: float = Field(0.0, ge=0, lt=1)
    contrast: float = Field(0.0, ge=0, lt=1)


class EarlyStoppingConfig(_Strict):
    monitor: Monitor | None = Field(
        None, description="default: val/auroc_macro for binary and multilabel tasks, else "
        "val/f1_weighted"
    )  # fmt: skip
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
    shots: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        min_length=1,
        description="label efficiency: training images per class, an axis of the grid (one "
        "cell per value, e.g. [1, 5, 10, 25]); validation and test images are all kept",
    )
    fraction: list[Annotated[float, Field(gt=0, le=1)]] | None = Field(
        None,
        min_length=1,
        description="label efficiency: the share of each class's training images (rounded, "
        "at least one), an axis of the grid (e.g. [0.01, 0.1, 1.0]); not with `shots`",
    )
    episodes: int = Field(
        1,
        ge=1,
        description="with shots or fraction: seeded resamples of the training images per "
        "cell, each trained and tested (mean, std and an interval across them)",
    )

    @field_validator("shots", "fraction")
    @classmethod
    def _distinct(cls, value: list | None) -> list | None:
        if value is not None and len(set(value)) < len(value):
            raise ValueError(f"values must be distinct, but got {value}")
        return value

    @model_validator(mode="after")
    def _one_axis(self) -> TrainConfig:
        if self.shots is not None and self.fraction is not None:
            message = "give either `shots` or `fraction` (the label-efficiency axis), not both"
            Problems([problem(("fraction",), message, value=self.fraction)]).raise_if_any("Train")
        if self.episodes > 1 and self.shots is None and self.fraction is None:
            message = (
                "`episodes` resamples the training images of a `shots` or `fraction` axis; "
                "without one, repeat the training with the suite's `seeds:`"
            )
            Problems([problem(("episodes",), message, value=self.episodes)]).raise_if_any("Train")
        return self

    @model_serializer(mode="wrap")
    def _axis_when_used(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without the label-efficiency axis its settings are left out, so that the cells of
        suites without it keep their config hashes (and resume)."""
        data = handler(self)
        if self.shots is None and self.fraction is None and self.episodes == 1:
            for key in ("shots", "fraction", "episodes"):
                data.pop(key, None)
        return data


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


class ExternalConfig(_Strict):
    """A dataset of the suite that cells are tested on, never trained on: another site's
    images of the same question."""

    split: Literal["test", "all"] = Field(
        "test", description="its test split (split as its `split:` says), or every image"
    )
    classes: dict[str, str] | None = Field(
        None,
        description="trained class (or label) -> this dataset's class; several mapped to one "
        "are summed (multi-label: their maximum); omitted: the same names",
    )
    trained_on: list[str] | None = Field(
        None, min_length=1, description="the datasets whose cells it tests; omitted: all"
    )


class CorruptionsConfig(_Strict):
    """Common corruptions of the test images (MedMNIST-C's), each at several severities."""

    kinds: list[str] = Field(min_length=1, description="see `medbench list corruptions`")
    severities: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], min_length=1, description="each in 1-5"
    )
    reference: str | None = Field(
        None,
        description="backbone/strategy of the cells the balanced errors are relative to "
        "(per dataset; MedMNIST-C's BE and rBE); omitted: no BE or rBE",
    )
    seed: int = Field(0, description="the corruptions' random draws")

    @field_validator("severities")
    @classmethod
    def _one_to_five(cls, value: list[int]) -> list[int]:
        problems = Problems()
        for i, severity in enumerate(value):
            if not 1 <= severity <= 5:
                message = f"a severity is 1 to 5, but got {severity}"
                problems.append(problem((i,), message, value=severity))
        problems.raise_if_any("CorruptionsConfig")
        if len(set(value)) != len(value):
            raise ValueError(f"severities {value} repeat a value")
        return sorted(value)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str], info: ValidationInfo) -> list[str]:
        names = _names(info)
        if names is None:
            return value
        known, problems = names.corruptions(), Problems()
        for i, kind in enumerate(value):
            if kind not in known:
                message = f"unknown corruption '{kind}': expected one of {sorted(known)}." + (
                    suggest(kind, known)
                )
                problems.append(problem((i,), message, value=kind))
        problems.raise_if_any("CorruptionsConfig")
        if len(set(value)) != len(value):
            raise ValueError(f"kinds {value} repeat a name")
        return value


class EvaluateConfig(_Strict):
    batch_size: int = Field(64, ge=1)
    bootstrap: int = Field(1000, ge=0, description="resamples for intervals; 0 turns them off")
    level: float = Field(0.95, gt=0, lt=1, description="interval level")
    alpha: float = Field(0.05, gt=0, lt=1, description="paired tests: significance level")
    latency: LatencyConfig | None = Field(default_factory=LatencyConfig)
    calibration: Literal["temperature"] | None = Field(
        None,
        description="temperature: one temperature (per label for multi-label) fitted on "
        "validation; test ece/brier/nll before and after; the saved model applies it",
    )
    external: dict[str, ExternalConfig] | None = Field(
        None,
        description="datasets of the suite to test every cell on, never trained on: "
        "{name: {split, classes}} (or a list of names)",
    )
    corruptions: CorruptionsConfig | None = Field(
        None, description="test under common corruptions: {kinds, severities, reference}"
    )

    @field_validator("external", mode="before")
    @classmethod
    def _names_to_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: {} for name in value}
        return (
            {k: {} if v is None else v for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )

    @model_serializer(mode="wrap")
    def _new_when_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Settings added after cells were first hashed are left out while unset, so that
        those cells keep their config hashes (and resume)."""
        data = handler(self)
        for key in ("calibration", "external", "corruptions"):
            if getattr(self, key) is None:
                data.pop(key, None)
        return data


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in an annotation (``X``, ``X | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None
