"""A trained cell's model tested under common corruptions (``evaluate.corruptions``): the
test images corrupted batch by batch on the cell's device, each kind at each severity with
its own seeded draws, scored as ``corrupt/<kind>/<severity>/…``, with MedMNIST-C's balanced
errors (the relative ones, BE and rBE, need the reference cell: the suite's summary step
writes them)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from benchmark.data import ImageSet
from benchmark.runner._context import Context
from benchmark.runner._data import Dataset
from benchmark.suite import Cell
from benchmark.tasks import Task

__all__ = ["corruption_table", "test_corrupted"]


def test_corrupted(cell: Cell, trained, data: Dataset, images: ImageSet, *, task: Task,
                   clean: tuple[np.ndarray, np.ndarray],
                   thresholds: Mapping[str, float] | None,
                   context: Context) -> dict[str, float]:  # fmt: skip
    """The metrics of ``trained`` on the test split under every corruption and severity of
    the cell's ``evaluate.corruptions``; ``clean`` are its (calibrated) test probabilities
    and labels, for the clean balanced error."""
    from benchmark.data.corruptions import Corruption
    from benchmark.evaluate import balanced_error

    config = cell.evaluate.corruptions
    assert config is not None  # called only for cells with corruptions
    start = time.perf_counter()
    ranking = task.ranking.removeprefix("test/")
    keep = {"accuracy", "balanced_accuracy", ranking}
    ids = [images.ids[i] for i in data.indices("test")]
    probs, labels = clean
    out = {
        "corrupt/clean_balanced_error": balanced_error(
            labels, probs, task_kind=task.name, thresholds=thresholds, classes=images.classes
        )
    }
    per_kind = {}
    for k, kind in enumerate(config.kinds):
        errors = []
        for severity in config.severities:
            context.reporter.phase(f"corruptions: {kind}, severity {severity}", 0)
            corruption = Corruption(kind, severity)
            raw, labels = trained.proba(
                "test", data, images, context=context, batch_size=cell.evaluate.batch_size,
                augment=_Seeded(corruption, seed=config.seed * 1000 + k * 10 + severity),
            )  # fmt: skip
            probs = trained.calibrated(raw, multilabel=task.multilabel)
            prefix = f"corrupt/{kind}/{severity}/"
            result = task.evaluate(
                labels, probs, classes=images.classes, ids=ids, thresholds=thresholds,
                prefix=prefix,
            )  # fmt: skip
            out |= {key: v for key, v in result.metrics.items()
                    if key.removeprefix(prefix) in keep}  # fmt: skip
            error = balanced_error(labels, probs, task_kind=task.name, thresholds=thresholds,
                                   classes=images.classes)  # fmt: skip
            out[prefix + "balanced_error"] = error
            errors.append(error)
        per_kind[kind] = float(np.mean(errors))
        out[f"corrupt/{kind}/balanced_error"] = per_kind[kind]
    out["corrupt/balanced_error"] = float(np.mean(list(per_kind.values())))
    out["time/corrupt_s"] = time.perf_counter() - start
    return out


def corruption_table(metrics: dict[str, float]) -> dict:
    """``test_corrupted``'s metrics as ``eval/corruptions.json`` holds them: per kind, its
    mean balanced error and per severity its scores; and the clean and mean errors."""
    out: dict = {"clean_balanced_error": metrics.get("corrupt/clean_balanced_error"),
                 "balanced_error": metrics.get("corrupt/balanced_error"), "kinds": {}}  # fmt: skip
    for key, value in metrics.items():
        parts = key.split("/")
        if parts[0] != "corrupt" or len(parts) < 3:
            continue
        kind = out["kinds"].setdefault(parts[1], {"severities": {}})
        if len(parts) == 3:
            kind[parts[2]] = value
        else:
            kind["severities"].setdefault(parts[2], {})[parts[3]] = value
    return out


class _Seeded:
    """A corruption whose draws restart from ``seed`` at each pass: every model of the suite
    sees the same corrupted images (the batch's own generator would differ by position)."""

    def __init__(self, corruption, *, seed: int) -> None:
        import torch

        self.corruption = corruption
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x, generator=None):
        return self.corruption(x, self.generator)
