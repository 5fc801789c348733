"""A cell's explanations: CAM galleries and their quality on the test split, once its scores
are final, and how they are logged."""

from __future__ import annotations

import typing

import numpy as np
import torch

from benchmark import track
from benchmark.data import ImageSet
from benchmark.data.layouts import box_mask
from benchmark.explain import CellExplanation, explain_cell, explain_labels, usable_methods
from benchmark.runner._data import Dataset

__all__ = ["explain", "log_explanation"]


def log_explanation(run: track.RunLog, explanation) -> None:
    for path, figure in explanation.figures.items():
        run.log_figure(figure, path)
    for path, array in explanation.arrays.items():
        run.log_array(array, path)
    if explanation.warnings:
        run.set_tags({track.TAG + "explain_warnings": " | ".join(explanation.warnings)})


def explain(cell, trained, images, data, probs, labels, context):
    """CAM galleries and quality on the test split (after its scores are final). A head
    whose scores carry no gradient (kNN's votes) is explained by the methods that need none;
    the others are named in the run's warnings."""
    kept = usable_methods(trained.model, cell.explain.methods)
    skipped = [m for m in cell.explain.methods if m not in kept]
    warnings = [
        f"{', '.join(skipped)} left out: they need gradients, which a {cell.strategy} head's "
        "scores do not have"
    ] if skipped else []  # fmt: skip
    if not kept:
        return CellExplanation(warnings=warnings)
    context.reporter.phase("class-activation maps", 0)
    indices = data.indices("test")
    common = dict(
        images=typing.cast(torch.Tensor, _Rows(images.images, indices)),
        mean=trained.mean,
        std=trained.std,
        probs=probs,
        masks=images.masks[indices] if images.masks is not None else None,
        config=cell.explain.model_copy(update={"methods": kept}),
        title=cell.name,
        seed=cell.seed,
    )
    thresholds = trained.thresholds or {}
    if data.task.multilabel:  # one map per present label, decided at its threshold
        explanation = explain_labels(
            trained.model, targets=labels, labels=images.classes, **common,
            thresholds=[thresholds.get(name, 0.5) for name in images.classes],
            label_masks=_label_masks(data, images, indices),
        )  # fmt: skip
    else:
        positive = images.classes[-1]  # a binary task decides at its threshold
        preds = (probs[:, -1] >= thresholds[positive]).astype(int) if thresholds else None
        explanation = explain_cell(
            trained.model, labels=labels, classes=images.classes, preds=preds, **common
        )
    explanation.warnings.extend(warnings)
    return explanation


class _Rows:
    """Rows ``indices`` of an image tensor, gathered only where indexed: the explanations
    read a few test images, and a large test split is never copied whole."""

    def __init__(self, images: torch.Tensor, indices) -> None:
        self.images, self.indices = images, torch.as_tensor(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, which) -> torch.Tensor:
        return self.images[self.indices[torch.as_tensor(which)]]


def _label_masks(data: Dataset, images: ImageSet, indices):
    """Where the dataset has lesion boxes named by finding (NIH's), each label's own: the
    boxes of that finding in the test images at ``positions`` (of ``indices``), at the
    images' size, so a map is scored against its finding's lesions only."""
    boxes, ids = data.source.boxes, data.source.records["id"].to_numpy()[indices]
    if not boxes:
        return None
    size = tuple(images.images.shape[-2:])

    def masks(k: int, positions) -> torch.Tensor:
        label = images.classes[k]
        return torch.from_numpy(np.stack([
            box_mask([b for b in boxes.get(i, ()) if b.label == label], size)
            for i in ids[positions]
        ]))  # fmt: skip

    return masks
