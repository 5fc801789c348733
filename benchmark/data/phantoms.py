"""Synthetic brain-MRI phantoms with ground-truth lesion masks.

A grayscale axial head (scalp, skull ring, CSF, textured brain with grey/white contrast,
falx and lateral ventricles, a smooth bias field and Rician noise) in a random pose, with
one of four lesion classes modelled on the Brain Tumor MRI task:

- ``glioma``: irregular, infiltrative, ring-enhancing lesion with oedema, in one hemisphere;
- ``meningioma``: round, bright, homogeneous, attached to the inner skull edge;
- ``pituitary``: small bright lesion on the midline at the skull base;
- ``notumor``: no lesion.

Each image is a pure function of ``(seed, index)`` and is drawn in resolution-independent
coordinates, so the same phantom can be rendered at any size. ``difficulty`` (0 to 1) lowers
lesion contrast and size, raises noise and adds lesion-like distractors to every class, so
that small models do not score 100% trivially.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CLASSES", "Phantom", "render_phantom"]

CLASSES: tuple[str, ...] = ("glioma", "meningioma", "notumor", "pituitary")
PHANTOM_CLASSES = CLASSES  # the name `benchmark.data` exports them under

_BRAIN_EDGE = 0.83  # radius of the brain surface in head coordinates (1.0 = outer scalp)


@dataclass(frozen=True)
class Phantom:
    """One rendered phantom: a uint8 grayscale image, its boolean lesion mask, its label."""

    image: np.ndarray
    mask: np.ndarray
    label: str


def render_phantom(
    index: int,
    *,
    seed: int = 0,
    size: int = 128,
    difficulty: float = 0.5,
    label: str | None = None,
) -> Phantom:
    """Render phantom ``index`` of the stream ``seed``; its class is ``CLASSES[index % 4]``."""
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"`difficulty` must be within [0, 1], but got {difficulty}.")
    if size < 16:
        raise ValueError(f"`size` must be at least 16 pixels, but got {size}.")
    label = label or CLASSES[index % len(CLASSES)]
    if label not in CLASSES:
        raise ValueError(f"`label` must be one of {list(CLASSES)}, but got {label!r}.")
    rng = np.random.default_rng([seed, index])
    d = difficulty

    # Pixel grid in [-1, 1], then head coordinates (u right, v down, 1.0 = scalp edge).
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    scale = rng.uniform(0.75, 0.95)
    theta = np.deg2rad(rng.uniform(-20, 20))
    cx, cy = rng.uniform(-0.08, 0.08, size=2)
    xr, yr = x - cx, y - cy
    u = (xr * np.cos(theta) + yr * np.sin(theta)) / (0.80 * scale)
    v = (-xr * np.sin(theta) + yr * np.cos(theta)) / (0.95 * scale)
    r = np.hypot(u, v)

    img = np.zeros_like(x)
    img[(r >= 0.93) & (r < 1.0)] = 0.35  # scalp
    img[(r >= 0.86) & (r < 0.93)] = 0.90  # skull
    img[(r >= _BRAIN_EDGE) & (r < 0.86)] = 0.10  # CSF
    brain = r < _BRAIN_EDGE
    white = 1 / (1 + np.exp((r - 0.55) / 0.04))  # smooth white-matter core
    texture = _smooth_noise(rng, size, cells=6) * 0.06 + _smooth_noise(rng, size, cells=16) * 0.04
    img[brain] = (0.45 + 0.12 * white + texture)[brain]
    img[brain & (np.abs(u) < 0.012) & (v < 0.55)] -= 0.15  # falx
    for side in (-1, 1):  # lateral ventricles
        vent = _ellipse(u, v, side * 0.11, -0.08, 0.06, 0.20, side * np.deg2rad(15))
        img[vent] = 0.12

    mask = np.zeros_like(brain)
    contrast = 0.32 * (1.0 - 0.65 * d)
    shrink = 1.0 - 0.35 * d
    if label == "glioma":
        mask = _add_glioma(rng, img, u, v, contrast, shrink)
    elif label == "meningioma":
        mask = _add_meningioma(rng, img, u, v, contrast, shrink)
    elif label == "pituitary":
        mask = _add_pituitary(rng, img, u, v, contrast, shrink)
    mask &= brain

    # Lesion-like distractors (vessels, calcifications) in every class, more when harder.
    for _ in range(rng.poisson(3 * d)):
        du, dv = rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.5)
        au, av = rng.uniform(0.02, 0.05, size=2)
        angle = rng.uniform(0, np.pi)
        img[_ellipse(u, v, du, dv, au, av, angle)] += contrast * rng.uniform(0.5, 1.0)

    bias = 1.0 + 0.25 * d * _smooth_noise(rng, size, cells=2)
    img = np.clip(img * bias, 0, 1)
    sigma = 0.02 + 0.08 * d
    img = np.hypot(img + rng.normal(0, sigma, img.shape), rng.normal(0, sigma, img.shape))
    image = np.clip(img * 255, 0, 255).astype(np.uint8)
    return Phantom(image=image, mask=mask, label=label)


def _smooth_noise(rng: np.random.Generator, size: int, *, cells: int) -> np.ndarray:
    """Zero-mean, unit-range smooth noise of ``cells`` × ``cells`` features, at any size."""
    coarse = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).astype(float)


def _ellipse(
    u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float, angle: float
) -> np.ndarray:
    du, dv = u - cu, v - cv
    ru = du * np.cos(angle) + dv * np.sin(angle)
    rv = -du * np.sin(angle) + dv * np.cos(angle)
    return (ru / au) ** 2 + (rv / av) ** 2 <= 1.0


def _add_glioma(rng, img, u, v, contrast, shrink) -> np.ndarray:
    side = rng.choice([-1, 1])
    cu, cv = side * rng.uniform(0.25, 0.5), rng.uniform(-0.4, 0.35)
    radius = rng.uniform(0.12, 0.22) * shrink
    du, dv = u - cu, v - cv
    phi, dist = np.arctan2(dv, du), np.hypot(du, dv)
    wobble = sum(
        rng.uniform(0, 0.18) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in range(2, 6)
    )
    rel = dist / (radius * (1 + wobble))  # < 1 inside the irregular boundary
    mask = rel < 1.0
    img += 0.35 * contrast * np.exp(-(((rel - 1.0) / 0.6) ** 2)) * (rel < 2.0)  # oedema
    img[mask] += contrast * np.where(rel[mask] > 0.6, 1.0, -0.5)  # enhancing rim, necrotic core
    return mask


def _add_meningioma(rng, img, u, v, contrast, shrink) -> np.ndarray:
    angle = rng.uniform(-np.pi, np.pi)
    radius = rng.uniform(0.10, 0.17) * shrink
    dist = _BRAIN_EDGE - 0.6 * radius  # sits on the inner skull edge
    mask = np.hypot(u - dist * np.cos(angle), v - dist * np.sin(angle)) < radius
    img[mask] += 1.1 * contrast
    return mask


def _add_pituitary(rng, img, u, v, contrast, shrink) -> np.ndarray:
    cu, cv = rng.uniform(-0.03, 0.03), rng.uniform(0.58, 0.66)
    radius = rng.uniform(0.06, 0.10) * shrink
    mask = _ellipse(u, v, cu, cv, radius * 1.2, radius, 0.0)
    img[mask] += contrast
    return mask
