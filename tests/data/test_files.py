"""Robust loading: bad files are named and skipped, deep images scaled, links not followed."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.data import create_source, write_synthetic
from benchmark.data import files as files_module
from benchmark.data.files import BadImage, decode_image, walk_files
from benchmark.runner import index_dataset
from benchmark.suite._schema import AuditConfig, DatasetConfig


def _jpeg(size=64) -> bytes:
    image = (np.arange(size * size).reshape(size, size) % 251).astype(np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_empty_truncated_and_non_image_files_are_refused_with_the_reason():
    with pytest.raises(BadImage, match="empty file"):
        decode_image(b"")
    with pytest.raises(BadImage, match="truncated"):
        decode_image(_jpeg()[:-200])  # a decoder left to itself would pad it with grey
    with pytest.raises(BadImage, match="not an image"):
        decode_image(b"%PDF-1.4 not a picture")


def test_a_decompression_bomb_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(files_module, "MAX_PIXELS", 32 * 32)
    with pytest.raises(BadImage, match="decompression bomb"):
        decode_image(_jpeg(64))


def test_sixteen_bit_images_are_scaled_by_their_depth_not_clipped():
    twelve_bit = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(twelve_bit).save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    assert decoded.dtype == np.uint8
    assert decoded.tolist() == [[0, 64], [128, 255]]  # 4095 → 255, not clipped at 255


def test_colour_images_come_back_rgb():
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's order
    decoded = decode_image(cv2.imencode(".png", bgr)[1].tobytes())
    assert decoded[0, 0].tolist() == [200, 0, 0]


def test_links_out_of_the_root_and_folder_loops_are_not_followed(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"x")
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"s")
    os.symlink(outside, root / "a" / "escape.png")
    os.symlink(root, root / "a" / "loop")  # a folder linking back up
    os.symlink(root / "a" / "x.png", root / "a" / "inside.png")
    skipped: list[str] = []
    found = sorted(p.name for p in walk_files(root, skipped))
    assert found == ["inside.png", "x.png"]
    assert any("out of the dataset folder" in s for s in skipped)
    assert any("a link to a folder" in s for s in skipped)


def test_a_run_skips_bad_files_with_a_count_and_keeps_going(tmp_path):
    root = tmp_path / "bt"
    write_synthetic(root, per_class=6, size=32)
    (root / "Training/glioma/zero.jpg").write_bytes(b"")
    (root / "Training/glioma/cut.jpg").write_bytes(
        (root / "Training/glioma/Tr-gl_0000.jpg").read_bytes()[:300]
    )
    (root / "Training/notumor/notes.png").write_text("not an image")
    assert len(create_source("brain-tumor-mri", root)) == 27  # indexing decodes nothing

    class Collect:
        def __init__(self):
            self.warnings: list[str] = []

        def loading(self, *args): ...

        def warning(self, message):
            self.warnings.append(message)

    reporter = Collect()
    data = index_dataset(
        "bt",
        DatasetConfig(layout="brain-tumor-mri", root=root),
        0,
        AuditConfig(),
        reporter,
    )
    assert len(data.source) == 24
    assert sorted(b["path"].rsplit("/", 1)[1] for b in data.report.bad_files) == [
        "cut.jpg",
        "notes.png",
        "zero.jpg",
    ]
    assert data.report.counts()["bad_files"] == 3
    assert any("3 unreadable file(s) left out" in w for w in reporter.warnings)
