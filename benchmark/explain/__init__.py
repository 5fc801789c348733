"""Class-activation maps: computation, quality scores, galleries (the only importer of
pytorch_grad_cam)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data import normalize
from benchmark.explain._cam import (
    SLOW_METHODS,
    cam_maps,
    check_method,
    list_cams,
    stage_layers,
    target_layer,
)
from benchmark.explain._gallery import gallery_figure, heatmap, overlay, stages_figure
from benchmark.explain._quality import baseline_maps, faithfulness, localisation

__all__ = [
    "SLOW_METHODS",
    "CellExplanation",
    "baseline_maps",
    "cam_maps",
    "check_method",
    "explain_cell",
    "faithfulness",
    "gallery_figure",
    "heatmap",
    "list_cams",
    "localisation",
    "overlay",
    "stage_layers",
    "stages_figure",
    "target_layer",
]


@dataclass
class CellExplanation:
    """What the runner logs: ``cam/*`` metrics, figures and raw maps by artifact path."""

    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def explain_cell(
    model: nn.Module,
    *,
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    labels: np.ndarray,
    probs: np.ndarray,
    masks: torch.Tensor | None,
    classes: list[str],
    config: Any,
    title: str,
    seed: int = 0,
) -> CellExplanation:
    """CAM galleries and quality scores for a trained model on (part of) its test split.

    ``images`` are the uint8 test images (normalised with ``mean``/``std`` only where a map
    is computed), ``probs`` the model's test probabilities. Maps for quality are computed for
    the true class; the gallery shows the map of the predicted class.
    """
    device = next(model.parameters()).device

    def inputs(indices) -> torch.Tensor:
        return normalize(images[indices], mean=mean, std=std, device=device)

    out = CellExplanation()
    preds = probs.argmax(axis=1)
    n = min(len(images), config.max_images)
    chosen = np.random.default_rng(seed).permutation(len(images))[:n]
    sample = inputs(chosen)
    targets = [int(t) for t in labels[chosen]]
    sample_masks = masks[chosen].numpy() if masks is not None else None

    def score(name: str, maps: np.ndarray) -> None:
        k = len(maps)
        quality = faithfulness(
            model, sample[:k], maps, targets[:k], top_percent=config.top_percent,
            road_images=config.road_images,
        )  # fmt: skip
        if sample_masks is not None:
            quality |= localisation(maps, sample_masks[:k], top_percent=config.top_percent)
            quality.pop("images")
        out.metrics |= {f"cam/{name}/{key}": value for key, value in quality.items()}

    size = sample.shape[-1]
    for kind in ("random", "center"):  # the chance level, on every sampled image
        score(kind, baseline_maps(kind, count=n, size=size, seed=seed))
    for method in config.methods:
        count = n
        start = time.perf_counter()
        first = cam_maps(model, sample[:1], targets[:1], method=method, layer=config.layer)
        per_image = time.perf_counter() - start
        if method in SLOW_METHODS and per_image * n > config.budget_s:
            count = max(1, int(config.budget_s / max(per_image, 1e-9)))
            out.warnings.append(
                f"{method}: {per_image:.1f} s per image, scoring {count} of {n} images to "
                f"stay within explain.budget_s={config.budget_s:g}"
            )
        rest = cam_maps(model, sample[1:count], targets[1:count], method=method, layer=config.layer)
        maps = np.concatenate([first, rest])
        out.metrics[f"cam/{method}/images"] = count
        out.metrics[f"cam/{method}/seconds_per_image"] = (time.perf_counter() - start) / count
        score(method, maps)
        out.figures[f"cams/{method}/gallery.png"] = _gallery(
            model, inputs, images, labels, preds, probs, classes, method, config, title
        )
        for i in range(min(config.save_maps, count)):
            out.arrays[f"cams/{method}/maps/{i:02d}_{classes[targets[i]]}.npy"] = maps[i]
    if config.stages:
        out.figures["cams/stages.png"] = _stages(model, inputs, images, preds, classes, title)
    return out


def _gallery(model, inputs, images, labels, preds, probs, classes, method, config, title):
    rows = []
    for k, name in enumerate(classes):
        right = np.flatnonzero((labels == k) & (preds == k))[: config.per_class]
        wrong = np.flatnonzero((labels == k) & (preds != k))[: config.per_class]
        picked = [*right, *wrong]
        if not picked:
            continue
        maps = cam_maps(
            model,
            inputs(picked),
            [int(preds[i]) for i in picked],
            method=method,
            layer=config.layer,
        )
        rows.append(
            [
                {
                    "image": images[i].numpy(),
                    "cam": cam,
                    "caption": f"{name} → {classes[preds[i]]} {probs[i, preds[i]]:.2f}",
                    "color": "green" if preds[i] == labels[i] else "red",
                }
                for i, cam in zip(picked, maps, strict=True)
            ]
        )
    return gallery_figure(rows, title=f"{title}: {method} (true → predicted, confidence)")


def _stages(model, inputs, images, preds, classes, title):
    stages = stage_layers(model)
    picked = [int(np.flatnonzero(preds == k)[0]) for k in range(len(classes)) if (preds == k).any()]
    per_stage = [
        cam_maps(model, inputs(picked), [int(preds[i]) for i in picked], layer=name)
        for name, _ in stages
    ]
    return stages_figure(
        [images[i].numpy() for i in picked],
        [[per_stage[s][r] for s in range(len(stages))] for r in range(len(picked))],
        [name for name, _ in stages],
        title=f"{title}: Grad-CAM per stage",
    )
