"""The suite file: schema, loading (``${VAR}``, ``--set``), and the grid of cells."""

from benchmark.suite._cells import Cell, expand_cells
from benchmark.suite._load import format_validation_error, load_suite
from benchmark.suite._schema import (
    AugmentConfig,
    BackboneConfig,
    DatasetConfig,
    EarlyStoppingConfig,
    EvaluateConfig,
    FreezeAllButLast,
    FreezeStages,
    HeadConfig,
    ParamSpec,
    PrunerConfig,
    ScheduleConfig,
    SplitConfig,
    StrategyConfig,
    Suite,
    TrainConfig,
    TuneConfig,
    param_path,
    suite_schema,
)

__all__ = [
    "AugmentConfig",
    "BackboneConfig",
    "Cell",
    "DatasetConfig",
    "EarlyStoppingConfig",
    "EvaluateConfig",
    "FreezeAllButLast",
    "FreezeStages",
    "HeadConfig",
    "ParamSpec",
    "PrunerConfig",
    "ScheduleConfig",
    "SplitConfig",
    "StrategyConfig",
    "Suite",
    "TrainConfig",
    "TuneConfig",
    "expand_cells",
    "format_validation_error",
    "load_suite",
    "param_path",
    "suite_schema",
]
