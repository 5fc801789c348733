"""Tuning: the search space (``tune.space``), its ranges and where a tuned name lives in a
cell (:func:`param_path`), without the registries (a cell re-applies tuned settings in any
worker); ``Suite`` checks the names with them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from benchmark.errors import suggest
from benchmark.suite._backbone import HeadConfig
from benchmark.suite._plugins import StrategyConfig
from benchmark.suite._schema import Monitor, TrainConfig, _model_in, _Strict


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
    def bounds(self) -> tuple[int | float, int | float]:
        """``(low, high)`` of a range (a spec without ``choices`` has both)."""
        if self.low is None or self.high is None:
            raise ValueError("a spec of `choices` has no range")
        return self.low, self.high

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
    objective: Monitor | None = Field(
        None, description="default: val/auroc_macro for binary and multilabel tasks, else "
        "val/f1_weighted (a cell's dataset decides)"
    )  # fmt: skip
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    refit: Literal["train", "train+val"] = Field(
        "train", description="what the tuned model is retrained on before the test"
    )
    space: dict[str, ParamSpec] = Field(
        default_factory=default_space,
        description="setting → range; short names are training settings (lr, dropout, "
        "batch_size, ...) or strategy settings (freeze, temperature, ...); dotted paths such "
        "as train.weight_decay or strategy.temperature. A strategy setting is tuned only in "
        "the cells of strategies that have it (see `medbench list strategies`)",
    )


_PARAM_ROOTS = {"train": TrainConfig, "strategy": None, "head": HeadConfig}
_CELL_FIELD = {"train": "train", "strategy": "strategy_config", "head": "head"}
_GRID_AXES = ("shots", "fraction", "episodes")
_TUNE_HELP = "a training setting, a setting of the suite's strategies, or a dotted path"


def param_path(name: str) -> tuple[str, ...]:
    """Where a tuned setting lives in a cell: ``lr`` → ``("train", "lr")``.

    Short names are training settings (``lr``, ``dropout``) or, any other, settings of the
    cell's strategy (``freeze``, ``temperature``: which strategies have them is the
    registries' to say, see ``Suite``); dotted names start at ``train.``, ``strategy.`` or
    ``head.``.
    """
    if name.removeprefix("train.") in _GRID_AXES:
        raise ValueError(
            f"cannot tune '{name}': label efficiency's settings {list(_GRID_AXES)} make the "
            "grid's cells, not a trial's settings"
        )
    if "." not in name:
        if name in TrainConfig.model_fields:
            return ("train", name)
        if name in StrategyConfig.model_fields:
            raise ValueError(f"cannot tune '{name}': expected {_TUNE_HELP}")
        return ("strategy_config", name)
    root, *rest = name.split(".")
    if root not in _PARAM_ROOTS:
        raise ValueError(
            f"cannot tune '{name}': a dotted path starts with one of {sorted(_PARAM_ROOTS)}"
        )
    if root == "strategy":
        if rest[0] in StrategyConfig.model_fields:
            raise ValueError(f"cannot tune '{name}': expected {_TUNE_HELP}")
    else:
        _check_path(name, root, _PARAM_ROOTS[root], rest)
    return (_CELL_FIELD[root], *rest)


def _check_path(name: str, root: str, model: Any, rest: list[str]) -> None:
    """Each part of ``rest`` is a setting of the model the parts before it lead to."""
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


def _check_strategy_param(name: str, rest: tuple[str, ...], options: list[type[BaseModel]]) -> None:
    """A tuned strategy setting is one that some of ``options`` (the suite's strategies'
    models) has, down to its last part."""
    setting, *deeper = rest
    owners = [model for model in options if setting in model.model_fields]
    if not owners:
        have = sorted({field for model in options for field in model.model_fields})
        known = sorted(set(TrainConfig.model_fields) | set(have))
        raise ValueError(
            f"cannot tune '{name}': no strategy of this suite has a setting '{setting}' "
            f"(theirs are {have}); expected {_TUNE_HELP} such as train.augment.rotate."
            + suggest(setting, known)
        )
    if deeper:
        _check_path(name, f"strategy.{setting}", _model_in(
            owners[0].model_fields[setting].annotation), deeper)  # fmt: skip
