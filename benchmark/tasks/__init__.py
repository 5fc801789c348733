"""Task types by registry name (a property of each dataset: ``datasets.<name>.task``): one
module per type registers its name, its options and its behaviour (labels, loss,
probabilities, thresholds, metrics).

Importing this package imports no torch (``medbench suite validate`` validates task
settings through it); a task imports torch and the metrics where it computes.
"""

from benchmark.tasks import binary, multiclass, multilabel, ordinal  # noqa: F401 (registers)
from benchmark.tasks._base import (
    OperatingPoint,
    Task,
    TaskOptions,
    create_task,
    get_task,
    list_tasks,
    register_task,
)

__all__ = [
    "OperatingPoint",
    "Task",
    "TaskOptions",
    "create_task",
    "get_task",
    "list_tasks",
    "register_task",
]
