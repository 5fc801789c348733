"""A trained cell's explanations: every method's quality scores, per-class galleries and
raw maps, with the slow methods held to ``explain.budget_s``; a multi-label model's per
label, on the images where the label is present."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data import normalize
from benchmark.explain._gallery import gallery_figure, stages_figure
from benchmark.explain._layers import stage_layers
from benchmark.explain._maps import explain_maps, stage_maps
from benchmark.explain._quality import baseline_maps, faithfulness, localisation
from benchmark.explain.methods import Attribution, get_method
from benchmark.suite import ExplainConfig

__all__ = ["CellExplanation", "explain_cell", "explain_labels"]


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
    config: ExplainConfig,
    title: str,
    seed: int = 0,
    preds: np.ndarray | None = None,
) -> CellExplanation:
    """Galleries and quality scores of every method for a trained model on (part of) its
    test split; ``preds`` are the classes the model decided (default: the likeliest; a
    binary task's at its threshold).

    ``images`` are the uint8 test images (normalised with ``mean``/``std`` only where a map
    is computed), ``probs`` the model's test probabilities. Maps for quality are computed for
    the true class; the gallery shows the map of the predicted class. A slow method is timed
    on its first image and held to ``config.budget_s`` for scores and gallery together:
    fewer images are scored and shown, and the warnings and the gallery's title say so.
    """
    device = next(model.parameters()).device

    def inputs(indices) -> torch.Tensor:
        return normalize(images[indices], mean=mean, std=std, device=device)

    def maps_of(method: str, x: torch.Tensor, targets: list[int]) -> Attribution:
        return explain_maps(
            model, x, targets=targets, method=method, layer=config.layer, settings=config,
            mean=mean, std=std, seed=seed,
        )  # fmt: skip

    out = CellExplanation()
    preds = probs.argmax(axis=1) if preds is None else np.asarray(preds)
    n = min(len(images), config.max_images)
    chosen = np.random.default_rng(seed).permutation(len(images))[:n]
    sample = inputs(chosen)
    targets = [int(t) for t in labels[chosen]]
    sample_masks = masks[chosen].numpy() if masks is not None else None

    def score(name: str, maps: np.ndarray) -> None:
        k = len(maps)
        quality = faithfulness(
            model, sample[:k], maps=maps, targets=targets[:k], top_percent=config.top_percent,
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
        picks = _gallery_picks(labels, preds, len(classes), config.per_class)
        wanted = sum(map(len, picks))
        count, shown = n, wanted
        start = time.perf_counter()
        first = maps_of(method, sample[:1], targets[:1]).maps
        per_image = time.perf_counter() - start
        if get_method(method).slow and per_image * (n + wanted) > config.budget_s:
            affordable = max(2, int(config.budget_s / max(per_image, 1e-9)))
            shown = min(wanted, max(1, round(affordable * wanted / (n + wanted))))
            count = max(1, min(n, affordable - shown))
            out.warnings.append(
                f"{method}: {per_image:.1f} s per image; {count} of {n} images scored and "
                f"{shown} of {wanted} gallery examples shown to stay within "
                f"explain.budget_s={config.budget_s:g}"
            )
        rest = maps_of(method, sample[1:count], targets[1:count]).maps
        maps = np.concatenate([first, rest])
        out.metrics[f"cam/{method}/images"] = count
        out.metrics[f"cam/{method}/seconds_per_image"] = (time.perf_counter() - start) / count
        score(method, maps)
        cut = "" if shown == wanted else f" ({shown} of {wanted} examples: explain.budget_s)"
        out.figures[f"cams/{method}/gallery.png"] = _gallery(
            _trim(picks, shown), maps_of, method, inputs, images, labels, preds, probs, classes,
            config, title=f"{title}: {method} (true → predicted, confidence){cut}",
        )  # fmt: skip
        for i in range(min(config.save_maps, count)):
            out.arrays[f"cams/{method}/maps/{i:02d}_{classes[targets[i]]}.npy"] = maps[i]
    if config.stages:
        out.figures["cams/stages.png"] = _stages(model, inputs, images, preds, classes, title)
    return out


def explain_labels(
    model: nn.Module,
    *,
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    targets: np.ndarray,
    probs: np.ndarray,
    masks: torch.Tensor | None,
    labels: list[str],
    config: ExplainConfig,
    title: str,
    seed: int = 0,
    thresholds: list[float] | None = None,
    label_masks: Callable[[int, np.ndarray], torch.Tensor | None] | None = None,
) -> CellExplanation:
    """:func:`explain_cell` for a multi-label model (``targets`` and ``probs`` N × L): one
    map per present label, found where its probability reaches its threshold (default
    0.5). For each label, the test images where it is present are explained with the
    model's output for that label read as a two-class one (absent, present: a softmax over
    ``(0, logit)`` is its sigmoid), so every method, quality score and gallery works
    unchanged. A map is scored against ``label_masks(k, positions)`` (label ``k``'s own
    lesions in those images, e.g. NIH's boxes of that finding) where given, else ``masks``.
    Each score is the mean over the labels explained (image
    counts: their sum); galleries and maps are kept per label (``cams/<label>/…``). A slow
    method's ``budget_s`` is shared by the labels."""
    out = CellExplanation()
    scores: dict[str, list[float]] = {}
    explained = [k for k in range(len(labels)) if (targets[:, k] == 1).any()]
    share = config.model_copy(
        update={"stages": False, "budget_s": config.budget_s / max(len(explained), 1)}
    )
    for k, label in enumerate(labels):
        present = np.flatnonzero(targets[:, k] == 1)
        if not len(present):
            out.warnings.append(f"{label}: no test image has it, so none is explained")
            continue
        p = probs[present, k]
        with _one_label(model, k):
            found = explain_cell(
                model, images=images[present], mean=mean, std=std,
                labels=np.ones(len(present), dtype=np.int64), probs=np.stack([1 - p, p], 1),
                masks=_masks_of(k, present, masks, label_masks),
                classes=[f"no {label}", label], config=share, title=f"{title}: {label}",
                seed=seed, preds=(p >= (thresholds[k] if thresholds else 0.5)).astype(np.int64),
            )  # fmt: skip
        for key, value in found.metrics.items():
            scores.setdefault(key, []).append(value)
        folder = "cams/" + re.sub(r"[^A-Za-z0-9_.-]+", "_", label) + "/"
        out.figures |= {path.replace("cams/", folder, 1): f for path, f in found.figures.items()}
        out.arrays |= {path.replace("cams/", folder, 1): a for path, a in found.arrays.items()}
        out.warnings.extend(f"{label}: {warning}" for warning in found.warnings)
    out.metrics = {
        key: float(np.sum(values) if key.endswith("/images") else np.nanmean(values))
        for key, values in scores.items()
    }
    return out


def _masks_of(k: int, present: np.ndarray, masks: torch.Tensor | None,
              label_masks: Callable[[int, np.ndarray], torch.Tensor | None] | None
              ) -> torch.Tensor | None:  # fmt: skip
    """Label ``k``'s lesion masks of the images at ``present``: its own where known."""
    own = label_masks(k, present) if label_masks is not None else None
    if own is not None:
        return own
    return masks[present] if masks is not None else None


@contextlib.contextmanager
def _one_label(model: nn.Module, k: int) -> Iterator[None]:
    """``model`` outputs ``(0, logit_k)`` per image meanwhile: label ``k`` as a two-class
    output (a forward hook, so the model's layers keep their names for the CAM layer)."""

    def two_class(module: nn.Module, args: Any, logits: torch.Tensor) -> torch.Tensor:
        chosen = logits[:, k]
        return torch.stack([torch.zeros_like(chosen), chosen], dim=1)

    handle = model.register_forward_hook(two_class)
    try:
        yield
    finally:
        handle.remove()


def _gallery_picks(labels, preds, classes: int, per_class: int) -> list[list[int]]:
    """Per class, up to ``per_class`` correctly then as many wrongly classified images."""
    rows = []
    for k in range(classes):
        right = np.flatnonzero((labels == k) & (preds == k))[:per_class]
        wrong = np.flatnonzero((labels == k) & (preds != k))[:per_class]
        rows.append([int(i) for i in (*right, *wrong)])
    return rows


def _trim(picks: list[list[int]], limit: int) -> list[list[int]]:
    """At most ``limit`` examples, taken in turn from each class so every class keeps some."""
    kept: list[list[int]] = [[] for _ in picks]
    for position in range(max(map(len, picks), default=0)):
        for row, chosen in zip(picks, kept, strict=True):
            if position < len(row) and sum(map(len, kept)) < limit:
                chosen.append(row[position])
    return [[i for i in row if i in chosen] for row, chosen in zip(picks, kept, strict=True)]


def _gallery(picks, maps_of, method, inputs, images, labels, preds, probs, classes, config, title):
    rows = []
    chosen = get_method(method)
    options = chosen.settings(config.method_options(method))
    for k, picked in enumerate(picks):
        if not picked:
            continue
        found = maps_of(method, inputs(picked), [int(preds[i]) for i in picked])
        row = []
        for j, i in enumerate(picked):
            row.append(
                {
                    "panels": chosen.panels(images[i].numpy(), found, index=j, options=options),
                    "caption": f"{classes[k]} → {classes[preds[i]]} {probs[i, preds[i]]:.2f}",
                    "color": "green" if preds[i] == labels[i] else "red",
                }
            )
        rows.append(row)
    return gallery_figure(rows, title=title, headers=chosen.headers)


def _stages(model, inputs, images, preds, classes, title):
    stages = stage_layers(model)
    picked = [int(np.flatnonzero(preds == k)[0]) for k in range(len(classes)) if (preds == k).any()]
    names = [name for name, _ in stages]
    per_stage = stage_maps(
        model, inputs(picked), targets=[int(preds[i]) for i in picked], layers=names
    )
    return stages_figure(
        [images[i].numpy() for i in picked],
        [[per_stage[s][r] for s in range(len(stages))] for r in range(len(picked))],
        stages=names,
        title=f"{title}: Grad-CAM per stage",
    )
