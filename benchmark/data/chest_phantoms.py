"""Synthetic chest-radiograph phantoms with any number of findings at once (multi-label).

A frontal chest (body, two dark lung fields with rib shadows and vessel texture, spine and
mediastinum, heart) in a patient's own build, shifted a little per image, with each finding
drawn where and as it shows on a radiograph, independently of the others:

- ``nodule``: a small bright round spot in the upper zone of the image-left lung;
- ``mass``: a larger bright round opacity in the mid zone of the same lung;
- ``effusion``: a flat fluid level filling the bottom of one or both lungs;
- ``cardiomegaly``: the heart shadow widened to over half the chest;
- ``pneumothorax``: black air without lung markings along the top and side of the
  image-right lung, behind a thin bright pleural line.

Each image is a pure function of ``(seed, patient, index, findings)`` drawn in
resolution-independent coordinates, so it is learnable by a small CNN at 32–64 pixels;
``difficulty`` (0 to 1) lowers the findings' contrast and size, raises noise and adds
spot-like distractors. The mask is the union of the present findings' regions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FINDINGS", "PREVALENCE", "ChestPhantom", "render_chest"]

FINDINGS: tuple[str, ...] = ("nodule", "effusion", "cardiomegaly", "pneumothorax", "mass")
PREVALENCE = {"nodule": 0.3, "effusion": 0.2, "cardiomegaly": 0.15, "pneumothorax": 0.1,
              "mass": 0.05}  # fmt: skip


@dataclass(frozen=True)
class ChestPhantom:
    """One rendered chest: a uint8 grayscale image, the boolean mask of its findings."""

    image: np.ndarray
    mask: np.ndarray
    findings: tuple[str, ...]


def render_chest(
    index: int,
    *,
    findings: Iterable[str] = (),
    patient: int | None = None,
    seed: int = 0,
    size: int = 64,
    difficulty: float = 0.5,
) -> ChestPhantom:
    """Render image ``index`` of ``patient`` (default: its own) in stream ``seed`` showing
    ``findings``; a patient's images share its build and where its findings lie."""
    findings = tuple(findings)
    unknown = sorted(set(findings) - set(FINDINGS))
    if unknown:
        raise ValueError(f"unknown findings {unknown}: expected some of {list(FINDINGS)}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"`difficulty` must be within [0, 1], but got {difficulty}.")
    if size < 16:
        raise ValueError(f"`size` must be at least 16 pixels, but got {size}.")
    body = np.random.default_rng([seed, index if patient is None else patient, 1])
    rng = np.random.default_rng([seed, index, 2])
    d = difficulty

    # Pixel grid in [-1, 1] (y down), then chest coordinates: the patient's build, the pose.
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    scale = body.uniform(0.88, 0.98) * rng.uniform(0.97, 1.03)
    cx, cy = rng.uniform(-0.04, 0.04, size=2)
    u, v = (x - cx) / scale, (y - cy) / scale

    img = np.full_like(x, 0.04)
    img[_ellipse(u, v, 0.0, 0.05, 0.95, 1.1)] = 0.42  # soft tissue
    lungs = [_ellipse(u, v, side * 0.42, -0.03, 0.3, 0.66) for side in (-1, 1)]
    lung = lungs[0] | lungs[1]
    texture = 0.05 * _smooth_noise(rng, size, cells=10) + 0.02 * np.sin(v * 24 + u * 3)
    img[lung] = (0.16 + texture)[lung]  # air, with vessels and rib shadows
    img[np.abs(u) < 0.09] += 0.12  # spine and mediastinum
    width = body.uniform(0.24, 0.28)
    level, sides = body.uniform(0.2, 0.3) + 0.1 * d, ((0,), (1,), (0, 1))[body.integers(3)]
    shifts = body.uniform(-0.08, 0.08, size=(2, 2))
    mask = np.zeros(x.shape, dtype=bool)
    contrast = 0.4 * (1.0 - 0.6 * d)
    shrink = 1.0 - 0.3 * d

    if "cardiomegaly" in findings:
        width *= 1.75 - 0.25 * d
    heart = _ellipse(u, v, 0.1, 0.22, width, 0.22)
    img[heart] = 0.6
    if "cardiomegaly" in findings:
        mask |= heart
    if "effusion" in findings:
        fluid = np.logical_or.reduce([lungs[k] for k in sides]) & (v > level)
        img[fluid] = np.maximum(img[fluid], 0.16 + 1.1 * contrast)
        mask |= fluid
    if "pneumothorax" in findings:
        collapsed = _ellipse(u, v, 0.37, 0.02, 0.3 - 0.12 * shrink, 0.62 - 0.2 * shrink)
        air = lungs[1] & ~collapsed & (v < 0.15)
        edge = cv2.dilate(collapsed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        img[air] = 0.02
        img[edge & ~collapsed & lungs[1] & (v < 0.15)] = 0.16 + contrast  # pleural line
        mask |= air
    spots = {"nodule": (-0.42, -0.38, 0.11), "mass": (-0.42, 0.08, 0.2)}
    for (name, (su, sv, radius)), (du, dv) in zip(spots.items(), shifts, strict=True):
        if name in findings:
            spot = _ellipse(u, v, su + du, sv + dv, radius * shrink, radius * shrink)
            img[spot] += 1.3 * contrast
            mask |= spot

    # Spot-like distractors (vessels end-on) in the lungs, more when harder.
    for _ in range(rng.poisson(3 * d)):
        du, dv = rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.4)
        img[_ellipse(u, v, du, dv, 0.05, 0.05) & lung] += 0.6 * contrast

    img = np.clip(img * (1.0 + 0.15 * d * _smooth_noise(rng, size, cells=2)), 0, 1)
    img += rng.normal(0, 0.02 + 0.06 * d, img.shape)
    image = np.clip(img * 255, 0, 255).astype(np.uint8)
    return ChestPhantom(image=image, mask=mask, findings=findings)


def _smooth_noise(rng: np.random.Generator, size: int, *, cells: int) -> np.ndarray:
    """Zero-mean, unit-range smooth noise of ``cells`` × ``cells`` features, at any size."""
    coarse = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).astype(float)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float):
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0
