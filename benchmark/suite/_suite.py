"""The whole suite: datasets × backbones × strategies, the settings they share, and the
checks that span its parts (a strategy's settings and training changes, tuned names)."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from benchmark.errors import suggest
from benchmark.suite._backbone import BackboneConfig, HeadConfig
from benchmark.suite._plugins import (
    ExplainConfig,
    Problems,
    StrategyConfig,
    _not_a_setting_of,
    check_options,
    problem,
)
from benchmark.suite._schema import (
    AuditConfig,
    DatasetConfig,
    EvaluateConfig,
    References,
    TrainConfig,
    _names,
    _Strict,
)
from benchmark.suite._tuning import TuneConfig, _check_strategy_param, param_path


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
        default_factory=lambda: {"finetune": StrategyConfig()},
        min_length=1,
        validate_default=True,  # the default strategy's settings are completed too
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig | None = Field(None, description="Optuna tuning per cell; null trains once")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    explain: ExplainConfig | None = Field(
        default_factory=ExplainConfig, description="CAM galleries and quality; null skips them"
    )
    audit: AuditConfig = Field(default_factory=AuditConfig)
    cells: list[str] | None = Field(
        None,
        description="run only the grid cells matching these dataset/backbone/strategy globs "
        "(with a label-efficiency axis, cells are named .../5-shot or .../10pct; a pattern "
        "without the value matches every value)",
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

    @model_validator(mode="after")
    def _label_efficiency(self) -> Suite:
        """A cell of the ``shots``/``fraction`` axis repeats its episodes (not seeds) and
        never trains on the validation split."""
        if not any(_has_axis(train_for(self.train, s)) for s in self.strategies.values()):
            return self
        problems = Problems()
        if self.seeds is not None and len(self.seeds) > 1:
            message = (
                "a cell of train.shots or train.fraction repeats its episodes, each with its "
                "own seed and its own draw of training images: set train.episodes instead"
            )
            problems.append(problem(("seeds",), message, value=self.seeds))
        if self.tune is not None and self.tune.refit == "train+val":
            message = (
                "train+val would add the whole validation split to the label budget of "
                "train.shots or train.fraction; use refit: train"
            )
            problems.append(problem(("tune", "refit"), message, value=self.tune.refit))
        problems.raise_if_any("Suite")
        return self

    @model_validator(mode="after")
    def _beyond_the_test_split(self) -> Suite:
        """External datasets are datasets of the suite that no cell trains on; a corruption
        reference is a backbone/strategy of the grid."""
        problems, evaluate = Problems(), self.evaluate
        external = evaluate.external or {}
        for name, entry in external.items():
            loc: tuple[Any, ...] = ("evaluate", "external", name)
            if name not in self.datasets:
                message = f"'{name}' is not a dataset of the suite: expected one of " + (
                    f"{sorted(self.datasets)}" + suggest(name, self.datasets)
                )
                problems.append(problem(loc, message, value=name))
            for i, trained in enumerate(entry.trained_on or ()):
                if trained not in self.datasets or trained in external:
                    message = f"'{trained}' is not a dataset cells train on: expected one of " + (
                        f"{sorted(set(self.datasets) - set(external))}"
                    )
                    problems.append(problem((*loc, "trained_on", i), message, value=trained))
        if external and set(self.datasets) <= set(external):
            message = "every dataset is external: keep at least one that cells train on"
            problems.append(problem(("evaluate", "external"), message, value=sorted(external)))
        reference = evaluate.corruptions.reference if evaluate.corruptions else None
        if reference is not None:
            pairs = [f"{b.name}/{s}" for b in self.backbones for s in self.strategies]
            if reference not in pairs:
                message = (
                    f"the reference cell '{reference}' is not in the grid: expected a "
                    f"backbone/strategy among {pairs}" + suggest(reference, pairs)
                )
                loc = ("evaluate", "corruptions", "reference")
                problems.append(problem(loc, message, value=reference))
        problems.raise_if_any("Suite")
        return self

    @property
    def trained_datasets(self) -> list[str]:
        """The datasets cells train on: all but the external ones."""
        external = self.evaluate.external or {}
        return [name for name in self.datasets if name not in external]

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
    def _strategy_settings(
        cls, value: dict[str, StrategyConfig], info: ValidationInfo
    ) -> dict[str, StrategyConfig]:
        """With the registries: each strategy is known, and its settings are validated and
        completed by its options model."""
        names = _names(info)
        if names is None:
            return value
        known, problems, checked = names.strategies(), Problems(), {}
        for key, config in value.items():
            kind = config.kind or key
            if kind not in known:
                hint = "" if config.kind else f" (or set `kind:` under strategies.{key})"
                message = (
                    f"unknown strategy '{kind}': expected one of {sorted(known)}."
                    + suggest(kind, known)
                    + hint
                )
                problems.append(
                    problem((key, "kind") if config.kind else (key,), message, value=kind)
                )
                continue
            options = check_options(
                known[kind], config.options, loc=(key,), problems=problems,
                unknown=partial(_not_a_setting_of, kind=kind, known=known),
            )  # fmt: skip
            checked[key] = config.model_copy(update=options)
        problems.raise_if_any("Suite")
        return checked

    @field_validator("tune")
    @classmethod
    def _tunable_names(cls, value: TuneConfig | None, info: ValidationInfo) -> TuneConfig | None:
        """Every tuned name has a place in a cell; with the registries, a strategy setting
        is one that a strategy of the suite has."""
        names, strategies = _names(info), info.data.get("strategies")
        for name in value.space if value is not None else ():
            path = param_path(name)
            if path[0] == "strategy_config" and names is not None and strategies is not None:
                known = names.strategies()
                kinds = sorted({config.kind or key for key, config in strategies.items()})
                _check_strategy_param(name, path[1:], [known[kind] for kind in kinds])
        return value


def _has_axis(train: TrainConfig) -> bool:
    return train.shots is not None or train.fraction is not None


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
