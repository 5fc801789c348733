"""What every task type shares: the :class:`Task` base (how labels look, the loss, the
probabilities a model's outputs mean, thresholds chosen on validation, the metrics), its
options, and the registry (``register_task``, ``create_task``, ``get_task``, ``list_tasks``).

A task is a property of a dataset (``datasets.<name>.task``). Nothing here imports torch:
``medbench suite validate`` validates a task's options through this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from benchmark.registry import Registry, plugin_options

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from benchmark.evaluate import Evaluation

__all__ = [
    "OperatingPoint",
    "Task",
    "TaskOptions",
    "create_task",
    "get_task",
    "list_tasks",
    "register_task",
]


class TaskOptions(BaseModel):
    """The options of a task that has no settings of its own."""

    model_config = ConfigDict(extra="forbid")


class Target(BaseModel):
    """An operating point reached on validation: a sensitivity or a specificity."""

    model_config = ConfigDict(extra="forbid")

    sensitivity: float | None = Field(None, gt=0, lt=1, description="the lowest to reach")
    specificity: float | None = Field(None, gt=0, lt=1, description="the lowest to reach")

    @model_validator(mode="after")
    def _one(self) -> Target:
        if (self.sensitivity is None) == (self.specificity is None):
            raise ValueError("give one of `sensitivity` or `specificity`, e.g. {sensitivity: 0.9}")
        return self


class OperatingPoint(TaskOptions):
    """Options of the tasks that decide at a threshold chosen on the validation split."""

    threshold: Literal["youden", "f1"] | Target | float = Field(
        "youden",
        description="youden (max sensitivity + specificity − 1), f1 (max F1), or a target "
        "{sensitivity: 0.9} / {specificity: 0.95}; chosen on validation, used on test and "
        "by the saved model; or a number in (0, 1): that threshold, chosen by nobody (0.5 "
        "decides as MedMNIST's evaluator does)",
    )

    @field_validator("threshold", mode="before")
    @classmethod
    def _one_rule(cls, value: Any) -> Any:
        """One readable line for a rule that is none of the four."""
        if value in ("youden", "f1"):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
            return float(value)
        if isinstance(value, dict) and len(value) == 1:
            ((key, target),) = value.items()
            if (
                key in ("sensitivity", "specificity")
                and isinstance(target, int | float)
                and (0 < target < 1)
            ):
                return value
        raise ValueError(
            f"expected youden, f1, {{sensitivity: x}}, {{specificity: x}} or a fixed threshold "
            f"x, with 0 < x < 1, but got {value!r}"
        )

    @property
    def rule(self) -> tuple[str, float | None]:
        """``(rule, target)`` as :func:`benchmark.evaluate.choose_threshold` takes them."""
        if isinstance(self.threshold, str):
            return self.threshold, None
        if isinstance(self.threshold, float):
            return "fixed", self.threshold
        if self.threshold.sensitivity is not None:
            return "sensitivity", self.threshold.sensitivity
        return "specificity", self.threshold.specificity


class Task:
    """A task type: what labels are (``ImageSet.labels``: class indices N, or N × L targets
    with NaN for a missing label), the loss trained on, the probabilities the model's logits
    mean, the thresholds chosen on validation, and the metrics of a split.

    A subclass registers itself with :func:`register_task` and names its settings in
    ``Options``; :func:`create_task` validates them as ``self.options``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = TaskOptions
    multilabel: ClassVar[bool] = False  # N × L targets (sigmoids) instead of one class
    thresholded: ClassVar[bool] = False  # decides at thresholds chosen on validation
    # what judges it: the validation score tuning and early stopping follow (the schema's
    # ``TaskConfig.monitor`` says the same: a test keeps them in step), the test score that
    # ranks cells (promotion, the paired tests' best), its headline scores, and the paired
    # test between two cells on the same test images
    objective: ClassVar[str] = "val/f1_weighted"
    ranking: ClassVar[str] = "test/f1_weighted"
    headline: ClassVar[tuple[tuple[str, str], ...]] = (
        ("accuracy", "test/accuracy"), ("F1", "test/f1_weighted"),
    )  # fmt: skip
    paired_test: ClassVar[str] = "McNemar on accuracy, Holm-adjusted"

    def __init__(self, options: BaseModel) -> None:
        self.options = options

    def config(self) -> dict[str, Any]:
        """The task as a suite (and a saved model's ``config.json``) writes it."""
        return {"kind": self.name, **self.options.model_dump(mode="json", exclude_none=True)}

    # -- the data
    def classes(self, found: Sequence[str], *, where: str) -> list[str]:
        """The classes (or labels) in the order the model's outputs take: ``found`` (the
        layout's) reordered or checked; a mismatch is a ``DataError`` naming ``where`` (the
        field path of the dataset's task)."""
        return list(found)

    # -- training (torch)
    def loss(self, weights: torch.Tensor | None = None) -> nn.Module:
        """The training loss ``loss(logits, labels)`` (mean), weighted per class or label."""
        raise NotImplementedError

    def balanced_weights(self, labels: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """Weights that balance the training labels (the cost-sensitive strategy's ``auto``)."""
        raise NotImplementedError

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """What the model's logits mean: N × K (or N × L) probabilities."""
        raise NotImplementedError

    def loss_sum(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The unweighted loss summed over the batch's images (``val/loss`` is its mean)."""
        raise NotImplementedError

    # -- evaluation (numpy)
    def val_scores(self, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        """The scores of a validation pass (``accuracy``, ``f1_weighted``, ``auroc_macro``
        where defined), without the ``val/`` prefix."""
        raise NotImplementedError

    def thresholds(self, labels: np.ndarray, probs: np.ndarray,
                   classes: Sequence[str]) -> dict[str, float] | None:  # fmt: skip
        """The decision thresholds chosen on validation (``None``: the likeliest class)."""
        return None

    def evaluate(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                 ids: Sequence[str], thresholds: Mapping[str, float] | None,
                 prefix: str = "test/") -> Evaluation:  # fmt: skip
        """Every metric of a split, its confusion matrix, report and predictions."""
        raise NotImplementedError

    def intervals(self, labels: np.ndarray, probs: np.ndarray, *, classes: Sequence[str],
                  thresholds: Mapping[str, float] | None, resamples: int, seed: int,
                  level: float, prefix: str = "test/") -> dict[str, float]:  # fmt: skip
        """Bootstrap intervals (``<metric>_ci_low|high``) of the split's main metrics."""
        raise NotImplementedError


T = TypeVar("T", bound=type[Task])

_TASKS: Registry[type[Task]] = Registry("task")


def register_task(name: str, *, description: str | None = None) -> Callable[[T], T]:
    """Class decorator: register the class as task ``name``."""
    return _TASKS.register_class(name, description=description)


def get_task(kind: str) -> type[Task]:
    """The task class registered as ``kind`` (an ``UnknownNameError`` otherwise)."""
    return _TASKS.get(kind)


def list_tasks() -> list[type[Task]]:
    """Every registered task class, by name."""
    return [cls for _, cls in _TASKS.items()]


def create_task(config: Mapping[str, Any] | str | None = None) -> Task:
    """The task a dataset's ``task:`` entry (``"binary"`` or ``{kind: binary, positive:
    cancer}``; ``None``: multiclass) describes, its options validated."""
    if config is None or isinstance(config, str):
        config = {"kind": config or "multiclass"}
    options = dict(config)
    cls = get_task(options.pop("kind", "multiclass"))
    return cls(plugin_options(f"the '{cls.name}' task", cls.Options, options))
