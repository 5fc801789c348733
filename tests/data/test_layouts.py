from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from benchmark.data import (
    assign_splits,
    create_source,
    get_layout,
    load_images,
    parse_op,
    write_synthetic,
)
from benchmark.data.layouts import SyntheticOptions
from benchmark.errors import DataError


def test_synthetic_source():
    source = create_source("synthetic", None, options=SyntheticOptions(per_class=3, size=32))
    assert len(source) == 12
    assert source.records["label"].value_counts().to_dict() == {
        "glioma": 3, "meningioma": 3, "notumor": 3, "pituitary": 3
    }  # fmt: skip
    image, mask = source.read(0)
    assert image.shape == (32, 32) and mask.shape == (32, 32)


def test_synth_writes_the_kaggle_brain_tumor_layout(tmp_path):
    counts = write_synthetic(tmp_path / "bt", per_class=5, size=48, seed=1)
    assert counts == {
        "train": {c: 4 for c in ("glioma", "meningioma", "notumor", "pituitary")},
        "test": {c: 1 for c in ("glioma", "meningioma", "notumor", "pituitary")},
    }
    assert (tmp_path / "bt/Training/glioma/Tr-gl_0000.jpg").is_file()
    assert (tmp_path / "bt/Testing/pituitary/Te-pi_0000.jpg").is_file()
    assert (tmp_path / "bt/Training/glioma/Tr-gl_0000_mask.png").is_file()

    source = create_source("brain-tumor-mri", tmp_path / "bt")  # counts: test_layout_contract
    glioma = source.records.index[source.records["id"] == "Training/glioma/Tr-gl_0000.jpg"][0]
    image, mask = source.read(glioma)
    assert image.shape[:2] == (48, 48) and mask is not None and mask.any()
    with pytest.raises(DataError, match="not empty"):
        write_synthetic(tmp_path / "bt", per_class=2)


def test_imagefolder_with_and_without_split_folders(tmp_path):
    write_synthetic(tmp_path / "bt", per_class=3, size=32)
    flat = create_source("imagefolder", tmp_path / "bt" / "Training")
    assert set(flat.records["split"]) == {""} and len(flat) == 8
    split = create_source("imagefolder", tmp_path / "bt")
    assert set(split.records["split"]) == {"train", "test"}


def test_clear_errors_for_missing_or_wrong_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        create_source("brain-tumor-mri", tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match=r"expected Training/ and Testing/"):
        create_source("brain-tumor-mri", tmp_path / "other")
    with pytest.raises(DataError, match="no images found"):
        create_source("imagefolder", tmp_path / "other")
    with pytest.raises(ValueError, match="unknown layout 'kaggle'"):
        get_layout("kaggle")


def test_corrupt_file_is_named(tmp_path):
    write_synthetic(tmp_path / "bt", per_class=2, size=32)
    bad = tmp_path / "bt/Training/glioma/Tr-gl_0000.jpg"
    bad.write_bytes(b"not a jpeg")
    source = create_source("brain-tumor-mri", tmp_path / "bt")
    with pytest.raises(DataError, match=r"Tr-gl_0000\.jpg"):
        load_images(source, ops=[], size=32)


def test_load_images_decodes_once_into_uint8_tensors(tmp_path):
    source = create_source("synthetic", None, options=SyntheticOptions(per_class=2, size=40))
    seen = []
    images = load_images(
        source, ops=[parse_op("to_rgb")], size=24, progress=lambda d, t: seen.append(d)
    )
    assert images.images.shape == (8, 3, 24, 24) and str(images.images.dtype) == "torch.uint8"
    assert images.labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert images.masks is not None and images.masks.shape == (8, 24, 24)
    assert seen[-1] == 8
    gray = load_images(source, ops=[], size=24)
    assert gray.images.shape[1] == 1


def test_masks_are_resized_by_nearest_neighbour_not_grown_by_interpolation():
    source = create_source("synthetic", None, options=SyntheticOptions(per_class=2, size=40))
    masks = load_images(source, ops=[], size=24).masks
    assert masks is not None
    for i in range(len(source)):
        mask = source.read(i)[1].astype(np.uint8)
        nearest = cv2.resize(mask, (24, 24), interpolation=cv2.INTER_NEAREST) > 0
        assert np.array_equal(masks[i].numpy(), nearest)


def _records(n_per_class: int, official_test: int = 0) -> pd.DataFrame:
    rows = []
    for label in ("a", "b", "c"):
        for i in range(n_per_class):
            split = "test" if i < official_test else ""
            rows.append(
                {"id": f"{label}{i}", "label": label, "split": split, "group": "", "path": ""}
            )
    return pd.DataFrame(rows)


def test_splits_are_deterministic_stratified_and_cover_everything():
    records = _records(50)
    split = assign_splits(records, val_fraction=0.25, test_fraction=0.2, seed=3)
    assert split.equals(assign_splits(records, val_fraction=0.25, test_fraction=0.2, seed=3))
    assert not split.equals(assign_splits(records, val_fraction=0.25, test_fraction=0.2, seed=4))
    counts = pd.crosstab(records["label"], split)
    assert (
        (counts["test"] == 10).all()
        and (counts["val"] == 10).all()
        and (counts["train"] == 30).all()
    )


def test_official_test_split_is_kept_and_val_carved_from_train():
    records = _records(20, official_test=5)
    split = assign_splits(records, val_fraction=0.2, test_fraction=0.5, seed=0)
    assert (split[records["split"] == "test"] == "test").all()
    assert (split == "test").sum() == 15
    assert (split == "val").sum() == 9  # 20% of the 45 official training images


def test_split_too_small_explains_itself():
    with pytest.raises(DataError, match="cannot carve"):
        assign_splits(_records(1), val_fraction=0.2, test_fraction=0.2, seed=0)


def test_preprocess_specs():
    assert parse_op("to_rgb") == ("to_rgb", {})
    assert parse_op({"resize": 100}) == ("resize", {"size": 100})
    assert parse_op({"resize": {"size": 100, "mode": "pad"}}) == (
        "resize",
        {"size": 100, "mode": "pad"},
    )
    with pytest.raises(ValueError, match="unknown preprocessing op 'blur'"):
        parse_op("blur")
    with pytest.raises(ValueError, match="accepts"):
        parse_op({"resize": {"sise": 3}})
    with pytest.raises(ValueError, match="`size` must be int, but got '-'"):
        parse_op({"resize": {"size": "-"}})
    with pytest.raises(ValueError, match="`mode` must be"):
        parse_op({"resize": {"mode": "crop"}})
    with pytest.raises(ValueError, match="takes no settings"):
        parse_op({"to_rgb": 3})


def test_resize_pad_keeps_aspect():
    from benchmark.data.preprocess import resize

    image = np.full((20, 40), 255, dtype=np.uint8)
    padded = resize(image, size=40, mode="pad")
    assert padded.shape == (40, 40)
    assert padded[0].max() == 0 and padded[20].min() == 255
