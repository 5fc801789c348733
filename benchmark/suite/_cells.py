"""The grid: datasets × backbones × strategies (× the values of the label-efficiency axis,
``train.shots`` or ``train.fraction``, where a suite has one) → cells, each with a stable
config hash."""

from __future__ import annotations

import hashlib
import json
from fnmatch import fnmatchcase as fnmatch
from typing import Any

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from benchmark.errors import SuiteError
from benchmark.suite._backbone import BackboneConfig, HeadConfig
from benchmark.suite._plugins import ExplainConfig, StrategyConfig
from benchmark.suite._schema import (
    DatasetConfig,
    EvaluateConfig,
    ExternalConfig,
    TrainConfig,
    _Strict,
)
from benchmark.suite._suite import Suite, train_for
from benchmark.suite._tuning import TuneConfig, param_path


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ExternalData(_Strict):
    """An external dataset as a cell tests on it: its settings and how it is used."""

    data: DatasetConfig
    use: ExternalConfig


class Cell(_Strict):
    """One dataset × backbone × strategy combination with every setting it runs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str
    seed: int
    seeds: list[int]
    dataset: str
    data: DatasetConfig
    backbone: BackboneConfig
    head: HeadConfig
    strategy: str
    strategy_config: StrategyConfig
    train: TrainConfig
    tune: TuneConfig | None
    evaluate: EvaluateConfig
    explain: ExplainConfig | None
    external: dict[str, ExternalData] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _external_when_any(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without external datasets the field is left out: cells hashed before it existed
        keep their config hashes (and resume)."""
        data = handler(self)
        if not self.external:
            data.pop("external", None)
        return data

    @property
    def name(self) -> str:
        """``dataset/backbone/strategy``, and the label budget where the suite has the axis
        (``.../5-shot``, ``.../10pct``)."""
        budget = self.budget
        return self.base_name + (f"/{budget}" if budget else "")

    @property
    def base_name(self) -> str:
        return f"{self.dataset}/{self.backbone.name}/{self.strategy}"

    @property
    def shots(self) -> int | None:
        """Training images per class of a cell of the ``shots`` axis."""
        return self.train.shots[0] if self.train.shots else None

    @property
    def fraction(self) -> float | None:
        """The share of each class's training images of a cell of the ``fraction`` axis."""
        return self.train.fraction[0] if self.train.fraction else None

    @property
    def budget(self) -> str:
        """The cell's value of the label-efficiency axis as its name shows it (``5-shot``,
        ``10pct``: readable, and safe in file names and globs); empty without the axis."""
        if self.shots is not None:
            return f"{self.shots}-shot"
        if self.fraction is not None:
            return f"{round(self.fraction * 100, 6):g}pct"
        return ""

    @property
    def objective(self) -> str:
        """What tuning maximises (or minimises): the suite's ``tune.objective``, else the
        dataset's task's default."""
        return (self.tune.objective if self.tune else None) or self.data.task.monitor

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
        return _hash(self.resolved())

    @property
    def study_key(self) -> str:
        """Hash of everything but the trial count and what is tested only after training
        (external datasets, corruptions, calibration): asking for more trials, or for those
        tests, extends the same study."""
        config = self.resolved()
        if config["tune"] is not None:
            config["tune"].pop("trials")
        config.pop("external", None)  # tested after training: the study is the same
        for key in ("calibration", "external", "corruptions"):
            config["evaluate"].pop(key, None)
        return _hash(config)

    def with_params(self, params: dict[str, Any]) -> Cell:
        """A copy with tuned settings applied (``{"lr": 0.01, "freeze": 0.5}``), re-validated."""
        config = self.resolved()
        for name, value in params.items():
            *parents, leaf = param_path(name)
            node = config
            for part in parents:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            node[leaf] = value
        return Cell.model_validate(config)


def expand_cells(suite: Suite) -> list[Cell]:
    """The grid datasets × backbones × strategies (× the label-efficiency axis's values), in
    the suite's order, restricted to the suite's ``cells`` patterns when it has them (a
    pattern matches a cell's name, or its name without the axis's value)."""
    cells = [
        Cell(
            suite=suite.name,
            seed=suite.seed,
            seeds=suite.seeds or [suite.seed],
            dataset=dataset,
            data=data,
            backbone=backbone,
            head=backbone.head or suite.head,
            strategy=strategy,
            strategy_config=strategy_config,
            train=_monitored(train, data),
            tune=_objective(suite.tune, data),
            evaluate=suite.evaluate,
            explain=suite.explain,
            external=_external(suite, dataset),
        )
        for dataset, data in suite.datasets.items()
        if dataset in suite.trained_datasets
        for backbone in suite.backbones
        for strategy, strategy_config in suite.strategies.items()
        for train in _budgets(train_for(suite.train, strategy_config))
    ]
    if suite.cells is not None:
        unused = [p for p in suite.cells if not any(_matches(c, p) for c in cells)]
        if unused:
            raise SuiteError(
                f"cells: {unused} match no cell of the grid; its cells are "
                f"{[c.name for c in cells]}."
            )
        cells = [c for c in cells if any(_matches(c, p) for p in suite.cells)]
    _check_reference(suite, cells)
    return cells


def _check_reference(suite: Suite, cells: list[Cell]) -> None:
    """The corruptions' reference cell runs for every dataset whose cells it compares."""
    corruptions = suite.evaluate.corruptions
    if corruptions is None or corruptions.reference is None:
        return
    names = {c.base_name for c in cells}
    missing = sorted({f"{c.dataset}/{corruptions.reference}" for c in cells} - names)
    if missing:
        raise SuiteError(
            f"evaluate.corruptions.reference: the reference cells {missing} are not run "
            "(left out by `cells:`): add them to `cells:`, or name another reference."
        )


def _external(suite: Suite, dataset: str) -> dict[str, ExternalData]:
    """The external datasets the cells of ``dataset`` are tested on."""
    return {
        name: ExternalData(data=suite.datasets[name], use=use)
        for name, use in (suite.evaluate.external or {}).items()
        if use.trained_on is None or dataset in use.trained_on
    }


def _monitored(train: TrainConfig, data: DatasetConfig) -> TrainConfig:
    """``train`` with its early-stopping monitor set: the dataset's task's default where the
    suite names none."""
    stopping = train.early_stopping
    if stopping is None or stopping.monitor is not None:
        return train
    monitor = stopping.model_copy(update={"monitor": data.task.monitor})
    return train.model_copy(update={"early_stopping": monitor})


def _objective(tune: TuneConfig | None, data: DatasetConfig) -> TuneConfig | None:
    """``tune`` with its objective set: the dataset's task's default where the suite names
    none."""
    if tune is None or tune.objective is not None:
        return tune
    return tune.model_copy(update={"objective": data.task.monitor})


def _budgets(train: TrainConfig) -> list[TrainConfig]:
    """One training per value of the label-efficiency axis (a cell's ``shots`` or
    ``fraction`` holds its one value); the training itself without the axis."""
    for axis in ("shots", "fraction"):
        values = getattr(train, axis)
        if values is not None:
            return [train.model_copy(update={axis: [value]}) for value in values]
    return [train]


def _matches(cell: Cell, pattern: str) -> bool:
    return fnmatch(cell.name, pattern) or fnmatch(cell.base_name, pattern)
