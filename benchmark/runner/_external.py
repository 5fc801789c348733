"""A trained cell's model tested on other datasets of the suite (``evaluate.external``):
another site's images, decoded with the cell's own preprocessing and size, its classes
mapped onto the external dataset's, scored by that dataset's task as ``external/<name>/…``
with intervals and the drop from the internal test score."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark import track
from benchmark.errors import SuiteError
from benchmark.evaluate import Evaluation
from benchmark.runner._context import Context
from benchmark.runner._data import Dataset, images_for
from benchmark.suite import Cell, ExternalConfig
from benchmark.tasks import Task

__all__ = ["ExternalResult", "class_map", "test_external"]


def class_map(trained: Sequence[str], external: Sequence[str], use: ExternalConfig, *,
              where: str) -> np.ndarray:  # fmt: skip
    """The K × M matrix (0/1) sending each trained class (or label) to the external class it
    counts as: ``use.classes`` where given, else the same names. Every trained class must go
    to one external class and every external class receive one; otherwise a
    :class:`SuiteError` at ``where`` (the field path) names the classes left over."""
    given = use.classes if use.classes is not None else {c: c for c in trained if c in external}
    problems = []
    unknown = sorted(set(given) - set(trained))
    if unknown:
        problems.append(f"{unknown} are not classes of the trained dataset {list(trained)}")
    wrong = sorted({v for v in given.values()} - set(external))
    if wrong:
        problems.append(f"{wrong} are not classes of the external dataset {list(external)}")
    left = [c for c in trained if c not in given]
    if left:
        problems.append(f"trained classes {left} are mapped to no external class")
    empty = [c for c in external if c not in given.values()]
    if empty:
        problems.append(f"external classes {empty} receive no trained class")
    if problems:
        hint = "" if use.classes is not None else " (the names differ: map them with `classes:`)"
        raise SuiteError(f"{where}: " + "; ".join(problems) + hint + ".")
    matrix = np.zeros((len(trained), len(external)), np.float64)
    for i, name in enumerate(trained):
        matrix[i, list(external).index(given[name])] = 1.0
    return matrix


def mapped(probs: np.ndarray, matrix: np.ndarray, *, multilabel: bool) -> np.ndarray:
    """Probabilities of the external classes: summed over the trained classes mapped
    together (one class per image), or their maximum (labels, which may co-occur)."""
    if not multilabel:  # in float64, the rows summing to 1 as float64 (sklearn checks)
        summed = probs.astype(np.float64) @ matrix
        return summed / summed.sum(axis=1, keepdims=True)
    out = np.zeros((len(probs), matrix.shape[1]), probs.dtype)
    for j in range(matrix.shape[1]):
        sources = np.flatnonzero(matrix[:, j])
        out[:, j] = probs[:, sources].max(axis=1)
    return out


def check_external(cell: Cell, dataset: Callable[[str], Dataset]) -> None:
    """Each external dataset of ``cell`` can take its classes (before any run starts)."""
    trained = dataset(cell.dataset)
    for name, entry in cell.external.items():
        external = dataset(name)
        _check_tasks(trained.task, external.task, name)
        class_map(trained.source.classes, external.source.classes, entry.use,
                  where=f"evaluate.external.{name}.classes")  # fmt: skip


def _check_tasks(trained: Task, external: Task, name: str) -> None:
    if trained.multilabel != external.multilabel:
        kinds = ("multi-label", "one class per image")
        a, b = (kinds[0], kinds[1]) if trained.multilabel else (kinds[1], kinds[0])
        raise SuiteError(
            f"evaluate.external.{name}: the cells' dataset is {a} but '{name}' is {b}: test "
            "on a dataset of the same kind of labels."
        )


@dataclass(frozen=True)
class ExternalResult:
    """One external dataset's scores and its evaluation (predictions, confusion)."""

    name: str
    metrics: dict[str, float]
    evaluation: Evaluation


def test_external(cell: Cell, trained, *, internal: tuple[np.ndarray, np.ndarray],
                  task: Task, classes: list[str], copies: Mapping[str, np.ndarray],
                  dataset: Callable[[str], Dataset], context: Context,
                  seed: int) -> list[ExternalResult]:  # fmt: skip
    """``trained`` (the cell's model, its temperature and thresholds) tested on each of the
    cell's external datasets. ``internal`` are its (calibrated) test probabilities and
    labels on the cell's own dataset: mapped onto the external classes and scored the same
    way, they give the like-for-like internal score each drop is measured from. External
    images that copy the cell's training or validation images (``copies``, by dataset:
    :func:`external_copies`) are left out and counted: they are not external."""
    results = []
    for name, entry in cell.external.items():
        context.reporter.phase(f"external test: {name}", 0)
        external = dataset(name)
        images = images_for(cell, external, reporter=context.reporter)
        indices = (
            np.arange(len(images.labels)) if entry.use.split == "all" else external.indices("test")
        )
        copied = copies[name][indices]
        indices = indices[~copied]
        raw, labels = trained.proba(
            "test", external, images, context=context, batch_size=cell.evaluate.batch_size,
            indices=indices, own=False,
        )  # fmt: skip
        probs = trained.calibrated(raw, multilabel=task.multilabel)
        matrix = class_map(classes, images.classes, entry.use,
                           where=f"evaluate.external.{name}.classes")  # fmt: skip
        ext_probs = mapped(probs, matrix, multilabel=task.multilabel)
        ext_task = external.task
        thresholds = _thresholds(ext_task, images.classes, trained.thresholds, matrix, classes)
        prefix = f"external/{name}/"
        evaluation = ext_task.evaluate(
            labels, ext_probs, classes=images.classes, ids=[images.ids[i] for i in indices],
            thresholds=thresholds, prefix=prefix,
        )  # fmt: skip
        metrics = dict(evaluation.metrics)
        if cell.evaluate.bootstrap:
            metrics |= ext_task.intervals(
                labels, ext_probs, classes=images.classes, thresholds=thresholds,
                resamples=cell.evaluate.bootstrap, seed=seed, level=cell.evaluate.level,
                prefix=prefix,
            )  # fmt: skip
        own_probs, own_labels = internal
        alike = ext_task.evaluate(
            mapped_labels(own_labels, matrix, multilabel=task.multilabel),
            mapped(own_probs, matrix, multilabel=task.multilabel), classes=images.classes,
            ids=[str(i) for i in range(len(own_labels))], thresholds=thresholds,
            prefix="internal/",
        ).metrics  # fmt: skip
        for score in _HEADLINE:
            if f"internal/{score}" in alike and prefix + score in metrics:
                metrics[f"{prefix}{score}_drop"] = (
                    alike[f"internal/{score}"] - metrics[prefix + score]
                )
        metrics[f"{prefix}overlap_images"] = float(copied.sum())
        results.append(ExternalResult(name, metrics, evaluation))
    return results


# the scores whose drop from the internal test split is logged (those the task gives)
_HEADLINE = ("accuracy", "balanced_accuracy", "f1_weighted", "f1_macro", "auroc_macro", "auroc",
             "kappa_quadratic")  # fmt: skip


def mapped_labels(labels: np.ndarray, matrix: np.ndarray, *, multilabel: bool) -> np.ndarray:
    """The trained dataset's labels as the external classes they map to: each class index
    sent to its external class; each label's targets combined by their maximum (present if
    any is; missing only where all are)."""
    if not multilabel:
        return matrix.argmax(axis=1)[labels]
    out = np.full((len(labels), matrix.shape[1]), np.nan, np.float32)
    for j in range(matrix.shape[1]):
        sources = labels[:, np.flatnonzero(matrix[:, j])]
        seen = ~np.isnan(sources).all(axis=1)
        out[seen, j] = np.nanmax(sources[seen], axis=1)
    return out


def external_copies(cell: Cell, data: Dataset, dataset: Callable[[str], Dataset], *,
                    context: Context) -> dict[str, np.ndarray]:  # fmt: skip
    """For each of ``cell``'s external datasets, which of its images copy (or nearly) the
    training or validation images of ``data``, the cell's own dataset; once per cell (its
    seeds share them), with a warning where there are any."""
    out = {}
    for name in cell.external:
        out[name] = copies = overlap(data, dataset(name))
        if copies.any():
            context.reporter.warning(
                f"external dataset '{name}': {int(copies.sum())} of its images copy (or nearly) "
                f"the training or validation images of '{cell.dataset}'; they are left out "
                "of its test"
            )
    return out


def overlap(trained: Dataset, external: Dataset) -> np.ndarray:
    """Which of ``external``'s images copy one of ``trained``'s training or validation
    images: the same bytes, or (where the image cache knows both's perceptual hashes) a near
    duplicate as the audit finds them."""
    from benchmark.data.audit import FACT_COLUMNS, duplicate_pairs
    from benchmark.suite._schema import NEAR_DISTANCE

    seen = [trained.keys[i] for i in trained.indices("train", "val")]
    copies = np.isin(np.asarray(external.keys, dtype=object), np.asarray(seen, dtype=object))
    if external.cache is None or not seen:
        return copies
    known = external.cache.facts([*seen, *external.keys])
    if not all(key in known for key in (*seen, *external.keys)):
        return copies  # not scanned here: the exact copies only
    facts = pd.DataFrame([known[k] for k in (*seen, *external.keys)], columns=list(FACT_COLUMNS),
                         dtype=object)  # fmt: skip
    pairs = duplicate_pairs(facts, near_distance=NEAR_DISTANCE)
    across = pairs[(pairs["a"] < len(seen)) & (pairs["b"] >= len(seen))]
    copies[across["b"].to_numpy() - len(seen)] = True
    return copies


def _thresholds(task: Task, classes: list[str], trained: dict[str, float] | None,
                matrix: np.ndarray, names: list[str]) -> dict[str, float] | None:  # fmt: skip
    """The external task's decision thresholds: for an external class that one trained
    class (``names``) alone maps to, the model's own threshold of that class (chosen on
    validation); for the others the task's fixed threshold (``threshold: 0.5``), else 0.5.
    None is chosen on the external images: they are test images."""
    if not task.thresholded:
        return None
    decided = classes if task.multilabel else classes[1:]
    rule = getattr(task.options, "threshold", None)
    fixed = rule if isinstance(rule, float) else 0.5
    out = {}
    for name in decided:
        sources = np.flatnonzero(matrix[:, classes.index(name)])
        own = names[sources[0]] if len(sources) == 1 else None
        out[name] = trained[own] if trained and own in trained else fixed
    return out


def log_external(run: track.RunLog, results: list[ExternalResult]) -> None:
    """Each external dataset's predictions and confusion matrix beside the test split's."""
    for result in results:
        evaluation = result.evaluation
        folder = f"external/{result.name}"
        run.log_text(evaluation.predictions.to_csv(index=False), f"{folder}/predictions.csv")
        run.log_dict({"matrix": evaluation.confusion.tolist()}, f"{folder}/confusion_matrix.json")
