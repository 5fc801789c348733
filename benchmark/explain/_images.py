"""A trained model's explanations of any images (``medbench explain``): per image its
prediction, the overlay of the chosen method's map and, if asked, one map per stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from benchmark.data import BadImage
from benchmark.explain._gallery import stages_figure
from benchmark.explain._layers import stage_layers
from benchmark.explain._maps import stage_maps

__all__ = ["ImageExplanation", "explain_images"]


class Predictor(Protocol):
    """What is explained: a model with its training preprocessing (``benchmark.serve``)."""

    model: nn.Module

    @property
    def classes(self) -> list[str]: ...
    def prepare(self, image: Path) -> torch.Tensor: ...
    def probabilities(self, images: Sequence[torch.Tensor]) -> np.ndarray: ...
    def targets(self, probs: np.ndarray) -> list[int]: ...
    def overlay(self, image: torch.Tensor, *, target: int, method: str) -> np.ndarray: ...
    def normalized(self, batch: torch.Tensor) -> torch.Tensor: ...


@dataclass
class ImageExplanation:
    """One image's answer: ``predicted`` class, its ``confidence``, the ``overlay`` (uint8
    H × W × 3) of its map and the ``stages`` figure (one map per backbone stage; the caller
    closes it), or the ``error`` that kept it from being explained."""

    path: Path
    predicted: str = ""
    confidence: float = float("nan")
    overlay: np.ndarray | None = None
    stages: Any = None
    error: str | None = None


def explain_images(
    predictor: Predictor, paths: Sequence[Path], *, method: str = "gradcam", stages: bool = False
) -> Iterator[ImageExplanation]:
    """Each image's explanation for its predicted class (at its threshold for a binary
    model; a multi-label model's likeliest label found), one at a time (a folder of
    thousands holds one figure at a time): ``method``'s overlay and, with ``stages``, the
    Grad-CAM of every stage; an image that cannot be read gives its error instead."""
    names = [name for name, _ in stage_layers(predictor.model)] if stages else []
    for path in paths:
        try:
            image = predictor.prepare(path)
        except BadImage as exc:
            yield ImageExplanation(path, error=str(exc))
            continue
        probs = predictor.probabilities([image])[0]
        pred = predictor.targets(probs)[0]  # the decided class (first found label)
        found = ImageExplanation(
            path,
            predicted=predictor.classes[pred],
            confidence=float(probs[pred]),
            overlay=predictor.overlay(image, target=pred, method=method),
        )
        if stages:
            x = predictor.normalized(image[None])
            maps = list(stage_maps(predictor.model, x, targets=[pred], layers=names)[:, 0])
            found.stages = stages_figure([image.numpy()], [maps], stages=names, title=path.name)
        yield found
