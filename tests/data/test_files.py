"""Robust loading: bad files are named and skipped, deep images scaled, links not followed."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmark.data import create_source, index_dataset, write_synthetic
from benchmark.data import files as files_module
from benchmark.data.files import BadImage, decode_image, is_image_file, read_image, walk_files
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


def test_only_the_image_formats_medbench_reads_reach_a_decoder():
    """A valid picture in a format outside the list (WebP, ICO, EPS, which would run
    Ghostscript) is refused before any of Pillow's other plugins look at it."""
    image = Image.new("RGB", (16, 16), "red")
    for fmt in ("WEBP", "ICO", "TGA"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        Image.open(io.BytesIO(buffer.getvalue())).load()  # Pillow itself would read it
        with pytest.raises(BadImage, match="not an image"):
            decode_image(buffer.getvalue())
    with pytest.raises(BadImage, match="not an image"):
        decode_image(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n")
    for fmt in ("PNG", "JPEG", "BMP", "TIFF", "PPM", "GIF"):
        buffer = io.BytesIO()
        image.convert("L" if fmt == "PPM" else "RGB").save(buffer, format=fmt)
        assert decode_image(buffer.getvalue()).shape[:2] == (16, 16), fmt


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

    warnings: list[str] = []
    data = index_dataset(
        "bt",
        DatasetConfig(layout="brain-tumor-mri", root=root),
        seed=0,
        policy=AuditConfig(),
        warn=warnings.append,
    )
    assert len(data.source) == 24
    assert sorted(b["path"].rsplit("/", 1)[1] for b in data.report.bad_files) == [
        "cut.jpg",
        "notes.png",
        "zero.jpg",
    ]
    assert data.report.counts()["bad_files"] == 3
    assert any("3 unreadable file(s) left out" in w for w in warnings)


_PEAK = """
import importlib.util, sys
import numpy as np
from PIL import Image
spec = importlib.util.spec_from_file_location("files", sys.argv[2])  # without torch & co.
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
BadImage, decode_image = files.BadImage, files.decode_image
def peak_kb():  # the high-water mark of this process (ru_maxrss would carry the parent's)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])
data = open(sys.argv[1], "rb").read()
before = peak_kb()
try:
    image = decode_image(data)
    result = f"{image.shape} {image.dtype} {int(image.max())}"
except BadImage as exc:
    result = f"refused: {exc}"
after = peak_kb()
print(result, "|", (after - before) // 1024)
"""


def _decode_in_fresh_process(path) -> tuple[str, int]:
    """Decode ``path`` in a new interpreter: what came back and the peak memory it took (MB)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _PEAK, str(path), files_module.__file__],
                         capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    result, _, megabytes = out.rpartition("|")
    return result.strip(), int(megabytes)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_a_huge_sixteen_bit_png_is_refused_and_a_large_one_decoded_in_bounded_memory(tmp_path):
    huge = tmp_path / "huge.png"  # 13000² 16-bit: 380 KB on disk, 338 MB of pixels
    Image.new("I;16", (13000, 13000), 4095).save(huge)
    assert huge.stat().st_size < 2_000_000
    result, peak = _decode_in_fresh_process(huge)
    assert result.startswith("refused: 13000×13000 pixels is over the 64,000,000-pixel limit")
    assert "MEDBENCH_MAX_PIXELS" in result and peak < 50
    large = tmp_path / "large.png"  # 6000² 16-bit: 72 MB of pixels, 36 MB as uint8
    gradient = np.tile(np.arange(6000, dtype=np.uint16) % 4096, (6000, 1))
    Image.fromarray(gradient).save(large)
    result, peak = _decode_in_fresh_process(large)
    assert result == "(6000, 6000) uint8 255"
    assert peak < 300, peak  # 16-bit pixels and the result; the float64 way took 895 MB


def test_a_gif_gives_its_first_frame_and_is_walked_like_other_images(tmp_path):
    frames = [Image.new("L", (8, 8), 200), Image.new("L", (8, 8), 10)]
    path = tmp_path / "scan.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert is_image_file(path)
    image = read_image(path)
    assert image.shape == (8, 8, 3) and abs(int(image.mean()) - 200) <= 2


def test_jpeg_exif_orientation_is_applied_in_training_and_in_prediction(tmp_path):
    from benchmark.data import prepare_image

    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise when shown
    path = tmp_path / "rotated.jpg"
    Image.fromarray(wide).save(path, exif=exif, quality=95)
    upright = read_image(path)
    assert upright.shape == (40, 20, 3)  # as a viewer shows it
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50  # white on top
    assert prepare_image(upright, ops=[], size=16).shape == (16, 16, 3)
