"""What a saved model's outputs mean, read from its ``config.json``: the task kind (``task``,
absent in models saved before tasks existed: multiclass), the class or label names and the
decision thresholds (``thresholds``: the positive class's for binary, one per label for
multi-label) and the temperature the logits are divided by (``temperature``: a positive
number, for multi-label also one per label; absent or null: none). Probabilities are a
softmax, but a sigmoid per label for multi-label; the decision is the likeliest class, the
positive class at or above its threshold for binary, and every label at or above its
threshold for multi-label."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmark.errors import MedbenchError, ModelError
from benchmark.models._names import CONFIG_FILE
from benchmark.tasks import Task, create_task, list_tasks

__all__ = ["ServedTask"]

DEFAULT_THRESHOLD = 0.5  # a binary or multi-label model saved without thresholds


@dataclass(frozen=True)
class ServedTask:
    """The task of a saved model (``task``: what its logits mean), its ``classes`` (labels
    for multi-label) and ``thresholds`` (class or label → threshold; empty for multiclass
    and ordinal) and ``temperature`` (``None``, one number, or for multi-label label →
    number: what the logits are divided by before the probabilities)."""

    classes: list[str]
    thresholds: dict[str, float] = field(default_factory=dict)
    task: Task = field(default_factory=create_task)
    temperature: float | dict[str, float] | None = None

    @classmethod
    def from_config(cls, config: dict) -> ServedTask:
        """The task recorded in a model's config; a config without ``task`` is multiclass.
        A kind or threshold this version cannot read raises :class:`ModelError`."""
        classes = [str(name) for name in config["classes"]]
        recorded = config.get("task") or "multiclass"
        kind = recorded if isinstance(recorded, str) else recorded.get("kind", "multiclass")
        kinds = [t.name for t in list_tasks()]
        if kind not in kinds:
            raise ModelError(
                f"{CONFIG_FILE}: task kind '{kind}' is not one of {', '.join(kinds)}: the "
                "model was saved by a newer medbench; predict with that version."
            )
        try:
            task = create_task(recorded)
        except MedbenchError as exc:
            raise ModelError(f"{CONFIG_FILE}: {exc}") from None
        positive = getattr(task.options, "positive", None)
        if kind == "binary" and (len(classes) != 2 or positive != classes[-1]):
            raise ModelError(
                f"{CONFIG_FILE}: a binary model needs two classes [negative, positive], its "
                f"positive class ('{positive}') last, but its classes are {classes}: fix "
                f"`classes` or `task` in {CONFIG_FILE}."
            )
        given = config.get("thresholds") or {}
        decided = {}  # binary: the positive class's threshold; multi-label: each label's
        if task.thresholded:
            decided = dict.fromkeys(classes if task.multilabel else classes[1:], DEFAULT_THRESHOLD)
        unknown = sorted(set(given) - set(decided))
        if unknown:
            expected = list(decided) or "none (the likeliest class is predicted)"
            raise ModelError(
                f"{CONFIG_FILE}: thresholds given for {unknown}, but this {kind} model takes "
                f"thresholds for {expected}: fix `thresholds` in {CONFIG_FILE}."
            )
        thresholds = {name: float(given.get(name, t)) for name, t in decided.items()}
        temperature = _temperature(config.get("temperature"), classes, multilabel=task.multilabel)
        return cls(classes=classes, thresholds=thresholds, task=task, temperature=temperature)

    @property
    def kind(self) -> str:
        return self.task.name

    @property
    def multilabel(self) -> bool:
        return self.task.multilabel

    @property
    def positive(self) -> str | None:
        """The positive class of a binary model (``None`` for the other kinds)."""
        return self.classes[1] if self.kind == "binary" else None

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """N × outputs logits → probabilities: a sigmoid per label, else a softmax, of the
        logits divided by the model's temperature."""
        logits = logits.float()
        if isinstance(self.temperature, dict):
            scale = [self.temperature[name] for name in self.classes]
            logits = logits / torch.tensor(scale, dtype=logits.dtype, device=logits.device)
        elif self.temperature is not None:
            logits = logits / self.temperature
        return self.task.probabilities(logits)

    def decisions(self, probs: np.ndarray) -> np.ndarray:
        """N × classes probabilities → N × classes booleans: the labels at or above their
        thresholds (multi-label), or the one decided class per row."""
        n = len(probs)
        if self.multilabel:
            return probs >= np.array([self.thresholds[c] for c in self.classes])
        if self.kind == "binary":
            chosen = (probs[:, 1] >= self.thresholds[self.classes[1]]).astype(int)
        else:
            chosen = probs.argmax(axis=1) if n else np.zeros(0, int)
        out = np.zeros(probs.shape, bool)
        out[np.arange(n), chosen] = True
        return out

    def targets(self, probs: np.ndarray) -> list[int]:
        """One image's classes worth a map: the decided class, or for multi-label each label
        at or above its threshold, likeliest first (the likeliest label when none is)."""
        chosen = np.flatnonzero(self.decisions(probs[None])[0])
        if not len(chosen):
            return [int(probs.argmax())]
        return [int(k) for k in chosen[np.argsort(-probs[chosen], kind="stable")]]

    def table(self, probs: np.ndarray) -> pd.DataFrame:
        """Probabilities → the answer per row, then one probability column per class:
        ``label`` and ``confidence`` (the chosen class's probability; binary adds
        ``threshold``), or for multi-label ``labels``, the list of labels at or above their
        thresholds."""
        decided = self.decisions(probs)
        if self.multilabel:
            chosen = [[c for c, on in zip(self.classes, row, strict=True) if on] for row in decided]
            frame = pd.DataFrame({"labels": pd.Series(chosen, dtype=object)})
        else:
            top = decided.argmax(axis=1) if len(probs) else np.zeros(0, int)
            frame = pd.DataFrame(
                {
                    "label": [self.classes[k] for k in top],
                    "confidence": probs[np.arange(len(probs)), top].astype(float),
                }
            )
            if self.kind == "binary":
                frame["threshold"] = self.thresholds[self.classes[1]]
        probabilities = pd.DataFrame(probs.astype(float), columns=self.classes)
        return pd.concat([frame, probabilities], axis=1)


def _temperature(
    value: Any, classes: list[str], *, multilabel: bool
) -> float | dict[str, float] | None:
    """The ``temperature`` of a config: ``None`` (absent or null), a positive number, or for
    a multi-label model a positive number per label; anything else raises :class:`ModelError`."""
    if value is None:
        return None
    if _positive(value):
        return float(value)
    if multilabel and isinstance(value, dict):
        if set(value) == set(classes) and all(_positive(v) for v in value.values()):
            return {name: float(value[name]) for name in classes}
        expected = "a positive number per label of " + ", ".join(classes)
    else:
        expected = "a positive number" + (" or one per label" if multilabel else "")
    raise ModelError(
        f"{CONFIG_FILE}: `temperature` must be null or {expected}, but it is {value!r}: fix "
        f"`temperature` in {CONFIG_FILE}."
    )


def _positive(value: Any) -> bool:
    """A finite number above 0 (a bool is no number here)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
