"""Fuzzed image files: every file decodes the same way when training reads it (the dataset
layout, the audit, the image loader) and when a model predicts from it (its path, its bytes,
an app upload), or is listed as unreadable with its reason by both. Nothing else escapes."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from PIL import Image

from benchmark.data import BadImage, create_source, load_images
from benchmark.data.audit import scan
from benchmark.data.files import decode_image
from benchmark.serve import Predictor

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # nothing saved between runs either
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SIZE = 24
# Pillow's formats with the modes each can write.
FORMATS = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"),
    "JPEG": ("L", "RGB", "CMYK"),
    "TIFF": ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"),
    "BMP": ("1", "L", "P", "RGB"),
    "GIF": ("L", "P"),
    "PPM": ("1", "L", "RGB", "I;16"),
    "WEBP": ("RGB", "RGBA"),
}
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".pgm")


@st.composite
def image_files(draw) -> tuple[bytes, str]:
    """The bytes of an image file (any format, mode, size, animated or EXIF-rotated), maybe
    damaged, and the name it is stored under (its extension may lie)."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    image = _random_image(rng, mode, width, height)
    options: dict = {}
    frames = draw(st.integers(1, 3)) if fmt in ("GIF", "PNG", "WEBP", "TIFF") else 1
    if frames > 1:
        options |= {"save_all": True, "append_images": [image.copy() for _ in range(frames - 1)]}
    if fmt in ("JPEG", "PNG", "TIFF", "WEBP") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(1, 8))  # orientation
        options["exif"] = exif
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        reject()  # this encoder cannot write that combination
    data = buffer.getvalue()
    event(f"{fmt} {mode}{' animated' if frames > 1 else ''}{' exif' if 'exif' in options else ''}")
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "random", "prefix"]))
    if damage == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        data = bytes(data)
    elif damage == "random":
        data = draw(st.binary(max_size=256))
    elif damage == "prefix":
        data = draw(st.binary(min_size=1, max_size=16)) + data
    return data, "scan" + draw(st.sampled_from(SUFFIXES))


def _random_image(rng: np.random.Generator, mode: str, width: int, height: int) -> Image.Image:
    if mode in ("I;16", "I", "F"):
        top = {"I;16": 65535, "I": 2**31 - 1, "F": 1}[mode]
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        pixels = (rng.random((height, width)) * top).astype(dtype)
        return Image.fromarray(pixels)  # uint16 → I;16, int32 → I, float32 → F
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if mode in ("1", "L", "P"):
        return Image.fromarray(pixels[..., 0]).convert(mode)
    if mode == "LA":
        return Image.fromarray(pixels[..., :2], "LA")
    if mode == "RGBA":
        return Image.fromarray(pixels, "RGBA")
    return Image.fromarray(pixels[..., :3]).convert(mode)  # RGB, CMYK


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    """A predictor's input side (preprocessing of its config); no model is needed."""
    config = {"image_size": SIZE, "preprocess": [], "classes": ["a", "b"]}
    return Predictor(model=torch.nn.Identity(), config=config, device=torch.device("cpu"))


@FUZZ
@given(file=image_files())
def test_training_and_prediction_decode_a_file_alike_or_both_say_why_not(file, predictor):
    data, name = file
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label in ("a", "b"):
            (root / label).mkdir()
        good = np.full((8, 8), 200, np.uint8)
        Image.fromarray(good).save(root / "a" / "good.png")
        path = root / "b" / name
        path.write_bytes(data)
        source = create_source("imagefolder", root)
        at = list(source.records["path"]).index(str(path))
        facts = scan(source).iloc[at]
        try:
            decoded = decode_image(data)
        except BadImage as exc:
            reason = str(exc)
            event("unreadable")
            assert reason, "an unreadable file needs a reason"
            assert facts["error"] == reason  # listed by the audit, with the same reason
            for given_as in (path, data):
                with pytest.raises(BadImage) as caught:
                    predictor.prepare(given_as)
                assert str(caught.value) == reason
            return
        event("readable")
        assert facts["error"] is None
        assert decoded.dtype == np.uint8 and (decoded.ndim == 2 or decoded.shape[2] == 3)
        assert (facts["width"], facts["height"]) == (decoded.shape[1], decoded.shape[0])
        trained = load_images(source, ops=[], size=SIZE, workers=1).images[at]
        if trained.shape[0] == 1:
            trained = trained.repeat(3, 1, 1)  # gray is read as RGB by the normalisation
        for given_as in (path, str(path), data):
            assert torch.equal(predictor.prepare(given_as), trained)


def test_decompression_bombs_are_refused_before_decoding(predictor, monkeypatch):
    from benchmark.data import files

    monkeypatch.setattr(files, "MAX_PIXELS", 10_000)
    buffer = io.BytesIO()
    Image.new("L", (200, 200)).save(buffer, format="PNG")  # 40,000 pixels in 300 bytes
    with pytest.raises(BadImage, match="over the 10,000-pixel limit"):
        predictor.prepare(buffer.getvalue())
