"""The grid: datasets × backbones × strategies → cells, each with a stable config hash."""

from __future__ import annotations

import hashlib
import json
from fnmatch import fnmatchcase as fnmatch
from typing import Any

from pydantic import ConfigDict

from benchmark.errors import SuiteError
from benchmark.suite._plugins import ExplainConfig, StrategyConfig
from benchmark.suite._schema import (
    BackboneConfig,
    DatasetConfig,
    EvaluateConfig,
    HeadConfig,
    TrainConfig,
    _Strict,
)
from benchmark.suite._suite import Suite, train_for
from benchmark.suite._tuning import TuneConfig, param_path


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        return _hash(self.resolved())

    @property
    def study_key(self) -> str:
        """Hash of everything but the trial count: asking for more trials extends the study."""
        config = self.resolved()
        if config["tune"] is not None:
            config["tune"].pop("trials")
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
    """The grid datasets × backbones × strategies, in the suite's order, restricted to the
    suite's ``cells`` patterns when it has them."""
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
            train=train_for(suite.train, strategy_config),
            tune=suite.tune,
            evaluate=suite.evaluate,
            explain=suite.explain,
        )
        for dataset, data in suite.datasets.items()
        for backbone in suite.backbones
        for strategy, strategy_config in suite.strategies.items()
    ]
    if suite.cells is None:
        return cells
    unused = [p for p in suite.cells if not any(fnmatch(c.name, p) for c in cells)]
    if unused:
        raise SuiteError(
            f"cells: {unused} match no cell of the grid; its cells are {[c.name for c in cells]}."
        )
    return [c for c in cells if any(fnmatch(c.name, p) for p in suite.cells)]
