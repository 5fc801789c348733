"""Transfer strategies by registry name: one module per strategy registers its name, its
options model (the settings a suite gives it) and its behaviour (what is frozen, which
loss, which stage comes first).

Importing this package imports no torch (``medbench suite validate`` validates strategy
settings through it); a strategy imports torch where it computes.
"""

from benchmark.strategies import (  # noqa: F401  (each registers its strategy)
    cost_sensitive,
    finetune,
    knn,
    linear_probe,
    logistic,
    partial,
    prototype,
    scratch,
    supcon,
)
from benchmark.strategies._base import (
    NoOptions,
    Stage,
    Strategy,
    create_strategy,
    get_strategy,
    list_strategies,
    register_strategy,
)
from benchmark.strategies._features import HeadFit
from benchmark.strategies._freeze import (
    Freeze,
    FreezeAllButLast,
    FreezeOptions,
    FreezeStages,
    backbone_layers,
    freeze_backbone,
)
from benchmark.strategies.cost_sensitive import class_weights
from benchmark.strategies.logistic import adaptive_c
from benchmark.strategies.supcon import supcon_loss

__all__ = [
    "Freeze",
    "FreezeAllButLast",
    "FreezeOptions",
    "FreezeStages",
    "HeadFit",
    "NoOptions",
    "Stage",
    "Strategy",
    "adaptive_c",
    "backbone_layers",
    "class_weights",
    "create_strategy",
    "freeze_backbone",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "supcon_loss",
]
