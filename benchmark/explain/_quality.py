"""Does a CAM point at the lesion, and does the model need what it points at?

Localisation (where lesion masks exist): pointing game (the map's peak inside the mask,
with the usual tolerance of 15 px at 224 px), fraction of the map's energy inside the mask,
and IoU of the map's top ``top_percent`` % pixels with the mask. Faithfulness (no masks
needed): pytorch_grad_cam's ROAD score (least- minus most-relevant-first removal, averaged
over percentiles; higher is more faithful) and the drop in the target class's probability
when the map's top region (the same ``top_percent``) is blurred away. ``random`` and
``center`` maps are scored the same way, so a reader sees whether a CAM beats chance.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

__all__ = ["baseline_maps", "faithfulness", "localisation", "top_region"]


def baseline_maps(kind: str, *, count: int, size: int, seed: int = 0) -> np.ndarray:
    """``random`` (smooth noise) or ``center`` (a centred Gaussian) maps in [0, 1]."""
    if kind == "center":
        y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
        blob = np.exp(-(x**2 + y**2) / (2 * 0.35**2)).astype(np.float32)
        return np.repeat(blob[None], count, axis=0)
    if kind == "random":
        rng = np.random.default_rng(seed)
        coarse = rng.random((count, 7, 7)).astype(np.float32)
        maps = np.stack(
            [cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in coarse]
        )
        maps -= maps.min(axis=(1, 2), keepdims=True)
        return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-8)
    raise ValueError(f"unknown baseline '{kind}': expected 'random' or 'center'")


def top_region(maps: np.ndarray, percent: float) -> np.ndarray:
    """Per map, exactly the ``percent`` % highest pixels (ties broken arbitrarily; a
    threshold would take every pixel of a map that is mostly zero)."""
    flat = maps.reshape(len(maps), -1)
    k = max(1, int(np.ceil(flat.shape[1] * percent / 100)))
    top = np.zeros(flat.shape, bool)
    np.put_along_axis(top, np.argpartition(flat, -k, axis=1)[:, -k:], True, axis=1)
    return top.reshape(maps.shape)


def localisation(
    maps: np.ndarray, masks: np.ndarray, *, top_percent: float = 10.0
) -> dict[str, float]:
    """Scores over the images whose mask is not empty (``nan`` when there are none)."""
    keep = masks.reshape(len(masks), -1).any(axis=1)
    if not keep.any():
        return {"pointing_game": np.nan, "energy_in_mask": np.nan, "iou": np.nan, "images": 0}
    maps, masks = maps[keep].astype(np.float64), masks[keep].astype(bool)
    size = masks.shape[-1]
    tolerance = max(1, round(15 / 224 * size))  # the usual 15 px at 224 px
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    hits, energy, iou = [], [], []
    for cam, mask in zip(maps, masks, strict=True):
        peak = np.unravel_index(np.argmax(cam), cam.shape)
        hits.append(bool(cv2.dilate(mask.astype(np.uint8), kernel)[peak]))
        energy.append(float(cam[mask].sum() / max(cam.sum(), 1e-12)))
        top = top_region(cam[None], top_percent)[0]
        iou.append(float((top & mask).sum() / max((top | mask).sum(), 1)))
    return {
        "pointing_game": float(np.mean(hits)),
        "energy_in_mask": float(np.mean(energy)),
        "iou": float(np.mean(iou)),
        "images": int(keep.sum()),
    }


def faithfulness(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    maps: np.ndarray,
    targets: list[int],
    top_percent: float = 10.0,
    road_images: int = 8,
    percentiles: tuple[int, ...] = (20, 50, 80),
) -> dict[str, float]:
    """``road`` (on the first ``road_images``) and ``drop`` (on all), means over images."""
    model.eval()
    out = {}
    with torch.no_grad():
        if road_images:
            k = min(road_images, len(inputs))
            targets_k = [ClassifierOutputSoftmaxTarget(t) for t in targets[:k]]
            road = ROADCombined(percentiles=list(percentiles))(
                inputs[:k], maps[:k], targets_k, model
            )
            out["road"] = float(np.mean(road))
        before = model(inputs).softmax(dim=1)
        blurred = (
            torch.from_numpy(
                np.stack(
                    [
                        cv2.GaussianBlur(x, (0, 0), 5)
                        for x in inputs.cpu().numpy().transpose(0, 2, 3, 1)
                    ]
                )
            )
            .permute(0, 3, 1, 2)
            .to(inputs.device)
        )
        top = torch.from_numpy(top_region(maps, top_percent)).to(inputs.device)[:, None]
        after = model(torch.where(top, blurred, inputs)).softmax(dim=1)
    index = torch.tensor(targets, device=inputs.device)[:, None]
    drop = (before.gather(1, index) - after.gather(1, index)).squeeze(1)
    return out | {"drop": float(drop.mean())}
