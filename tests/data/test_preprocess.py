"""The papers' preprocessing ops, and the on-disk cache of their results."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmark.data import (
    ImageCache,
    create_source,
    load_images,
    parse_op,
    read_image,
    render_phantom,
    write_synthetic,
)
from benchmark.data import images as images_module
from benchmark.data.preprocess import (
    apply_ops,
    bilateral,
    bind_mean,
    clahe,
    colormap,
    minmax,
    pad,
)


def test_crop_brain_contour_finds_the_head_in_a_jpeg_with_a_dark_border(tmp_path):
    phantom = render_phantom(3, seed=0, size=128, difficulty=0.3, label="glioma").image
    border = 60
    framed = cv2.copyMakeBorder(
        phantom, border, border, border + 30, border, cv2.BORDER_CONSTANT, value=8
    )
    path = tmp_path / "scan.jpg"
    cv2.imwrite(str(path), framed)
    image = read_image(path)

    cropped = apply_ops(image, [parse_op("crop_brain_contour")])

    ys, xs = np.nonzero(cv2.GaussianBlur(phantom, (5, 5), 0) > 45)
    head_h, head_w = ys.max() - ys.min(), xs.max() - xs.min()
    assert abs(cropped.shape[0] - head_h) <= 6 and abs(cropped.shape[1] - head_w) <= 6
    assert cropped.shape[0] < framed.shape[0] - 2 * border + 10
    assert cropped.mean() > 2 * image.mean()  # the dark frame is gone


def test_crop_keeps_an_image_without_any_contour_whole():
    black = np.full((50, 70), 10, np.uint8)
    assert apply_ops(black, [parse_op("crop_brain_contour")]).shape == (50, 70)


def test_filters_colormap_clahe_and_minmax():
    rng = np.random.default_rng(0)
    gray = np.clip(rng.normal(120, 30, (64, 64)), 0, 255).astype(np.uint8)
    gray[:, 32:] = 200  # an edge

    smooth = bilateral(gray, d=9)
    assert smooth[:, :28].std() < gray[:, :28].std() / 2  # noise smoothed
    assert smooth[:, 34:].mean() > 190 and smooth[:, :28].mean() < 140  # the edge kept

    bone = colormap(gray, name="bone")
    assert bone.shape == (64, 64, 3) and bone.dtype == np.uint8
    assert (bone[..., 2] >= bone[..., 0]).mean() > 0.9  # bone is bluish: B ≥ R in RGB
    assert colormap(gray, name="jet")[0, 40].tolist() != bone[0, 40].tolist()

    dim = (gray // 4).astype(np.uint8)
    assert clahe(dim).std() > dim.std()
    assert clahe(np.dstack([dim] * 3)).shape == (64, 64, 3)

    stretched = minmax(dim)
    assert stretched.min() == 0 and stretched.max() == 255
    assert minmax(np.full((4, 4), 7, np.uint8)).tolist() == np.full((4, 4), 7).tolist()


def test_op_settings_are_checked():
    with pytest.raises(ValueError, match=r"`name` must be one of \[.*'bone'"):
        parse_op({"colormap": "bonee"})
    with pytest.raises(ValueError, match="accepts"):
        parse_op({"bilateral": {"diameter": 9}})


def test_a_second_load_comes_from_the_cache_without_decoding(tmp_path, monkeypatch):
    write_synthetic(tmp_path / "bt", per_class=3, size=48)
    source = create_source("brain-tumor-mri", tmp_path / "bt")
    cache = ImageCache(tmp_path / "cache")
    ops = [parse_op("crop_brain_contour"), parse_op({"colormap": "bone"})]
    first = load_images(source, ops=ops, size=32, cache=cache)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(images_module, "prepare_image", no_decoding)
    second = load_images(source, ops=ops, size=32, cache=cache)
    assert np.array_equal(first.images, second.images)
    assert np.array_equal(first.masks, second.masks)  # lesion masks are cached too
    with pytest.raises(AssertionError, match="decoded although cached"):
        load_images(source, ops=ops, size=24, cache=cache)  # another size: another entry
    assert ImageCache.key(ops, 32) != ImageCache.key(ops[:1], 32)


def test_a_changed_file_is_never_served_stale(tmp_path):
    write_synthetic(tmp_path / "bt", per_class=2, size=48)
    cache = ImageCache(tmp_path / "cache")
    before = load_images(
        create_source("brain-tumor-mri", tmp_path / "bt"), ops=[], size=32, cache=cache
    )
    path = tmp_path / "bt/Training/glioma/Tr-gl_0000.jpg"
    cv2.imwrite(str(path), np.full((48, 48), 255, np.uint8))
    after = load_images(
        create_source("brain-tumor-mri", tmp_path / "bt"), ops=[], size=32, cache=cache
    )
    changed = [
        i for i in range(len(before)) if not np.array_equal(before.images[i], after.images[i])
    ]
    assert len(changed) == 1 and after.images[changed[0]].min() == 255


def test_pad_centres_the_image_without_scaling_it():
    image = np.full((28, 27), 200, np.uint8)
    out = pad(image, size=224)
    assert out.shape == (224, 224)
    ys, xs = np.nonzero(out)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (98, 125, 98, 124)  # as MedMNIST+
    assert pad(image, size=20).shape == (28, 27)  # a longer side is kept, never cropped
    assert apply_ops(image, [parse_op({"pad": 32})]).shape == (32, 32)


def test_pad_with_the_mean_colour_is_zero_once_normalised_as_medmnist_plus_pads():
    """MedMNIST+ normalises, then pads with zeros: the same as padding with the mean colour
    and then normalising, within half a grey level."""
    mean, std = np.array([0.481, 0.458, 0.408]), np.array([0.269, 0.261, 0.276])  # CLIP's
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)  # grey, made RGB as MedMNIST+
    normalised = (np.repeat(image[..., None], 3, axis=2) / 255 - mean) / std
    theirs = np.pad(normalised, ((98, 98), (98, 98), (0, 0)))
    [op] = bind_mean([parse_op({"pad": {"size": 224, "fill": "mean"}})], mean)
    ours = (apply_ops(image, [op]) / 255 - mean) / std
    assert ours.shape == theirs.shape == (224, 224, 3)
    assert np.abs(ours - theirs).max() <= 0.5 / 255 / std.min() + 1e-9


def test_bind_mean_fills_only_the_mean_pads_that_name_no_mean():
    ops = [
        parse_op({"pad": {"fill": "mean"}}),
        parse_op({"pad": {"fill": "mean", "mean": [0.1, 0.2, 0.3]}}),
        parse_op({"pad": 64}),
        parse_op("to_rgb"),
    ]
    bound = bind_mean(ops, (0.5, 0.5, 0.5))
    assert bound[0] == ("pad", {"fill": "mean", "mean": (0.5, 0.5, 0.5)})
    assert bound[1:] == ops[1:]
    assert ops[0] == ("pad", {"fill": "mean"})  # the list given is left as it was
    gray = pad(np.zeros((4, 4), np.uint8), size=6, fill="mean", mean=(0.5, 0.4, 0.3))
    assert gray.shape == (6, 6, 3) and gray[0, 0].tolist() == [128, 102, 76]
