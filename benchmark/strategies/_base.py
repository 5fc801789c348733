"""What every strategy shares: the :class:`Strategy` base (training through images, or a head
fitted on a frozen backbone's features), the :class:`Stage` a strategy may train before the
classifier, and the registry (``register_strategy``,
``create_strategy``, ``get_strategy``, ``list_strategies``).

Nothing here imports torch: ``medbench suite validate`` reads the registry (each
strategy's options model) through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from benchmark.registry import Registry, plugin_options

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.data import FeatureSet
    from benchmark.suite import TrainConfig
    from benchmark.tasks import Task
    from benchmark.train import History

__all__ = [
    "NoOptions",
    "Stage",
    "Strategy",
    "create_strategy",
    "get_strategy",
    "list_strategies",
    "register_strategy",
]


class NoOptions(BaseModel):
    """The options of a strategy that has no settings of its own."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Stage:
    """A training stage before the classifier's, run by ``train.fit`` like any training:
    ``net`` (sharing the model's weights) is trained on ``loss(net(x), y)`` for ``epochs``
    (``None``: the suite's ``train.epochs``), with ``views`` augmented views of each image."""

    net: nn.Module
    loss: nn.Module
    epochs: int | None = None
    views: int = 1


class Strategy:
    """A transfer strategy: what is frozen, which loss, which stage comes first.

    A subclass registers itself with :func:`register_strategy`, names its settings in
    ``Options`` (a pydantic model: the suite's entry for the strategy is validated by it)
    and gets them validated as ``self.options`` (see :func:`create_strategy`).

    A strategy trains through images (``prepare``, ``criterion``, ``pretrain``, then
    ``train.fit``) or, where :meth:`uses_features` says so, fits its head on the frozen
    backbone's pooled features only (:meth:`fit_features`): the backbone never runs again,
    so its features can be computed once and cached.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    pretrained: ClassVar[bool] = True  # False: the backbone starts from random weights
    multilabel: ClassVar[bool] = True  # False: needs one class per image (a multi-label
    # dataset's cells with this strategy are refused before any run)

    def __init__(self, options: BaseModel) -> None:
        self.options = options

    def prepare(self, model: nn.Module) -> None:
        """Set ``requires_grad`` on ``model`` for the classifier's training."""
        raise NotImplementedError

    def criterion(self, *, task: Task, labels: torch.Tensor, classes: Sequence[str]) -> nn.Module:
        """The classifier's loss for ``task``, given the training split's ``labels``."""
        return task.loss()

    def pretrain(self, model: nn.Module, example: torch.Tensor) -> Stage | None:
        """The stage trained before the classifier (``None``: none); ``example`` is a batch
        of two training inputs, for the sizes the stage needs."""
        return None

    def check_train_size(self, size: int) -> None:
        """Refuse, in one line, a training set of ``size`` images this strategy cannot fit
        (checked for every cell before any run is created)."""

    def uses_features(self, train: TrainConfig) -> bool:
        """True: with the training settings ``train``, this strategy needs only the frozen
        backbone's features (:meth:`fit_features`), never the images."""
        return False

    def fit_features(
        self,
        model: nn.Module,
        train: FeatureSet,
        val: FeatureSet | None,
        *,
        config: TrainConfig,
        classes: Sequence[str],
        device: torch.device,
        seed: int,
        task: Task | None = None,
        head: Mapping[str, Any] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        checkpoint: Path | None = None,
    ) -> tuple[dict[str, Any], History]:
        """Fit ``model``'s head on features and install it as its classifier.

        ``train`` and ``val`` hold the pooled features (``benchmark.models.features`` of the
        model in eval mode, its backbone as created) and labels of the training and
        validation splits (``val`` is ``None`` in a refit); the head computes on ``device``.
        ``head`` is the head config ``model`` was created with (``create_model(head=...)``;
        ``None``: timm's own); ``task`` (default multiclass) says what the labels are.
        Returns the fitted head's config, which ``config.json``'s ``"head"`` records
        (``load_model`` rebuilds it), and the history: per-epoch rows as ``train.fit`` gives
        them (``val/loss``, ``val/accuracy``, ``val/f1_weighted``, passed to ``on_epoch``;
        with ``checkpoint``, an interrupted training continues), or for a head fitted at
        once one row of its validation scores, ``best_score`` its
        ``config.early_stopping.monitor``. The backbone
        is left frozen and unchanged; the whole model stays on the device it came on.
        """
        raise NotImplementedError(f"the '{self.name}' strategy trains through images")


S = TypeVar("S", bound=type[Strategy])

_STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def register_strategy(name: str, *, description: str | None = None) -> Callable[[S], S]:
    """Class decorator: register the class as strategy ``name``, described by
    ``description`` or the first line of its docstring."""
    return _STRATEGIES.register_class(name, description=description)


def get_strategy(kind: str) -> type[Strategy]:
    """The strategy class registered as ``kind`` (an ``UnknownNameError`` otherwise)."""
    return _STRATEGIES.get(kind)


def list_strategies() -> list[type[Strategy]]:
    """Every registered strategy class, by name."""
    return [cls for _, cls in _STRATEGIES.items()]


def create_strategy(kind: str, options: Mapping[str, Any] | None = None) -> Strategy:
    """Strategy ``kind`` with ``options`` (its settings as a suite writes them) validated
    by its options model; a bad setting is a :class:`SuiteError` naming it."""
    cls = get_strategy(kind)
    hint = "; `medbench list strategies` describes them"
    return cls(plugin_options(f"the '{kind}' strategy", cls.Options, options or {}, hint=hint))
