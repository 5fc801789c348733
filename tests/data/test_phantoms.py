from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmark.data import PHANTOM_CLASSES, render_phantom


def test_deterministic_from_seed_and_index():
    a, b = render_phantom(5, seed=3, size=64), render_phantom(5, seed=3, size=64)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, render_phantom(5, seed=4, size=64).image)
    assert not np.array_equal(a.image, render_phantom(9, seed=3, size=64).image)


def test_classes_cycle_and_images_are_uint8_grayscale():
    for i, label in enumerate(PHANTOM_CLASSES * 2):
        p = render_phantom(i, size=48)
        assert p.label == label
        assert p.image.dtype == np.uint8 and p.image.shape == (48, 48)
        assert p.mask.dtype == bool and p.mask.shape == (48, 48)


@pytest.mark.parametrize("index", range(40))
def test_masks_sit_where_each_lesion_type_belongs(index):
    p = render_phantom(index, seed=1, size=128, difficulty=0.3)
    if p.label == "notumor":
        assert not p.mask.any()
        return
    assert p.mask.sum() > 5
    ys, xs = np.nonzero(p.mask)
    cy, cx = ys.mean() / 128 * 2 - 1, xs.mean() / 128 * 2 - 1  # in [-1, 1]
    head = p.image > 40
    head_cy = np.nonzero(head)[0].mean() / 128 * 2 - 1
    if p.label == "pituitary":  # small, near the midline, towards the skull base
        assert p.mask.sum() < 0.02 * 128 * 128
        assert cy > head_cy + 0.25
    if p.label == "glioma":  # in one hemisphere, away from the midline
        assert abs(cx) > 0.1
    if p.label == "meningioma":  # against the inner skull edge: touches the brain boundary
        ring = cv2.dilate(p.mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        assert (p.image[ring & ~p.mask] > 200).any() or (p.image[ring & ~p.mask] < 60).any()


def test_lesions_are_brighter_and_fade_with_difficulty():
    def contrast(d: float) -> float:
        values = []
        for i in range(0, 80, 4):  # glioma indices are 0 mod 4; use meningioma (1 mod 4)
            p = render_phantom(i + 1, seed=2, size=96, difficulty=d)
            ring = cv2.dilate(p.mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
            values.append(p.image[p.mask].mean() - p.image[ring & ~p.mask & (p.image > 60)].mean())
        return float(np.mean(values))

    easy, hard = contrast(0.0), contrast(1.0)
    assert easy > 30 and hard > 0
    assert easy > 2 * hard


def test_same_phantom_at_any_size():
    small = render_phantom(2, seed=0, size=64, difficulty=0.0).image.astype(float)
    large = render_phantom(2, seed=0, size=128, difficulty=0.0).image
    shrunk = cv2.resize(large, (64, 64), interpolation=cv2.INTER_AREA).astype(float)
    assert np.corrcoef(small.ravel(), shrunk.ravel())[0, 1] > 0.9


def test_bad_arguments():
    with pytest.raises(ValueError, match="difficulty"):
        render_phantom(0, difficulty=2)
    with pytest.raises(ValueError, match="label"):
        render_phantom(0, label="cyst")
