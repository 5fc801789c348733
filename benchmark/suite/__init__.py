"""The suite file: schema, loading (``${VAR}``, ``--set``), and the grid of cells."""

from benchmark.suite._backbone import BackboneConfig, HeadConfig, NormalizeConfig
from benchmark.suite._cells import Cell, ExternalData, expand_cells
from benchmark.suite._load import format_validation_error, load_suite
from benchmark.suite._plugins import ExplainConfig, StrategyConfig
from benchmark.suite._schema import (
    AugmentConfig,
    CorruptionsConfig,
    DatasetConfig,
    EarlyStoppingConfig,
    EvaluateConfig,
    ExternalConfig,
    Names,
    ScheduleConfig,
    SplitConfig,
    TaskConfig,
    TrainConfig,
)
from benchmark.suite._suite import Suite
from benchmark.suite._tuning import ParamSpec, PrunerConfig, TuneConfig, param_path

__all__ = [
    "AugmentConfig",
    "BackboneConfig",
    "Cell",
    "CorruptionsConfig",
    "DatasetConfig",
    "EarlyStoppingConfig",
    "EvaluateConfig",
    "ExplainConfig",
    "ExternalConfig",
    "ExternalData",
    "HeadConfig",
    "Names",
    "NormalizeConfig",
    "ParamSpec",
    "PrunerConfig",
    "ScheduleConfig",
    "SplitConfig",
    "StrategyConfig",
    "Suite",
    "TaskConfig",
    "TrainConfig",
    "TuneConfig",
    "expand_cells",
    "format_validation_error",
    "load_suite",
    "param_path",
]
