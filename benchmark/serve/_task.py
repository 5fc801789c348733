"""What a saved model's outputs mean, read from its ``config.json``: the task kind (``task``,
absent in models saved before tasks existed: multiclass), the class or label names and the
decision thresholds (``thresholds``: the positive class's for binary, one per label for
multi-label). Probabilities are a softmax, but a sigmoid per label for multi-label; the
decision is the likeliest class, the positive class at or above its threshold for binary,
and every label at or above its threshold for multi-label."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    and ordinal)."""

    classes: list[str]
    thresholds: dict[str, float] = field(default_factory=dict)
    task: Task = field(default_factory=create_task)

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
        return cls(classes=classes, thresholds=thresholds, task=task)

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
        """N × outputs logits → probabilities: a sigmoid per label, else a softmax."""
        return self.task.probabilities(logits.float())

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
