"""Finding and decoding image files safely.

Walking a dataset never follows symbolic links to folders (no loops) nor links to files
outside the dataset's root. Decoding goes through Pillow with truncated images refused
(``LOAD_TRUNCATED_IMAGES`` stays off) and a pixel limit checked on the header, before any
pixel is decoded (``MEDBENCH_MAX_PIXELS``, 64 million by default). Every decoded image comes
back as uint8, H × W (gray) or H × W × 3 (RGB), turned upright by its EXIF orientation;
deeper images (16-bit PNG/TIFF/PGM) are scaled by the bit depth they use, not clipped, and
without a floating-point copy of the whole image. A GIF gives its first frame. DICOM files
(``DICM`` after the preamble, whatever their name) go to :mod:`benchmark.data.dicom`, with
the window and frame of the given :class:`~benchmark.data.dicom.DicomOptions`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps

from benchmark.errors import BadImage

if TYPE_CHECKING:
    from benchmark.data.dicom import DicomOptions

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "BadImage",
    "decode_image",
    "decode_with_mode",
    "is_image_file",
    "read_image",
    "scale_deep",
    "walk_files",
]

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".gif", ".dcm", ".dicom",
}  # fmt: skip
# The formats Pillow may open: those of IMAGE_SUFFIXES (PPM reads .pgm). No other of its
# plugins sees a file: EPS would run Ghostscript, and every plugin is code an attacker
# could aim a crafted upload at.
PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "PPM", "GIF")
MAX_PIXELS: int | None = None  # a limit of this process; None: MEDBENCH_MAX_PIXELS's
IGNORED_DIRS = {"__MACOSX", ".git", ".ipynb_checkpoints"}

ImageFile.LOAD_TRUNCATED_IMAGES = False


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("._")


def walk_files(root: Path, skipped: list[str] | None = None) -> Iterator[Path]:
    """Every regular file under ``root`` in sorted order, without following links to
    folders, links that leave ``root``, hidden entries or ``__MACOSX`` resource forks.
    Links left out are described in ``skipped``."""
    top = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        kept = []
        for name in sorted(dirs):
            if name in IGNORED_DIRS or name.startswith("."):
                continue
            if (here / name).is_symlink():
                _note(skipped, f"{here / name}: a link to a folder, not followed")
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = here / name
            if name.startswith("."):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(top):
                    _note(skipped, f"{path}: a link out of the dataset folder, not followed")
                    continue
                if not target.is_file():
                    _note(skipped, f"{path}: a broken link")
                    continue
            yield path


def _note(skipped: list[str] | None, message: str) -> None:
    if skipped is not None:
        skipped.append(message)


def read_image(path: Path | str, *, dicom: DicomOptions | None = None) -> np.ndarray:
    """Read and decode one file (see :func:`decode_image`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the file: {exc.strerror or exc}") from None
    return decode_image(data, dicom=dicom)


def decode_image(data: bytes, *, dicom: DicomOptions | None = None) -> np.ndarray:
    """File bytes → uint8 H × W or H × W × 3 (RGB), or :class:`BadImage` saying why not;
    ``dicom`` says how a DICOM file's pixels become uint8 (its defaults when None)."""
    return decode_with_mode(data, dicom=dicom)[0]


def decode_with_mode(data: bytes, *, dicom: DicomOptions | None = None) -> tuple[np.ndarray, str]:
    """Like :func:`decode_image`, also returning the file's own mode (``L``, ``RGB``, ``I;16``,
    ``DICOM MONOCHROME2``)."""
    if not data:
        raise BadImage("empty file (0 bytes)")
    if data[128:132] == b"DICM":
        from benchmark.data.dicom import decode_dicom

        return decode_dicom(data, options=dicom)
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
            width, height = image.size
            limit = max_pixels()
            if width * height > limit:
                raise BadImage(
                    f"{width}×{height} pixels is over the {limit:,}-pixel limit (refused as a "
                    "possible decompression bomb; MEDBENCH_MAX_PIXELS raises the limit)"
                )
            image.load()
            mode = image.mode
            ImageOps.exif_transpose(image, in_place=True)  # as a camera or viewer shows it
            return _to_uint8(image), mode
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "cannot identify image file" in reason:
            reason = "not an image (unknown format)"
        raise BadImage(reason) from None


def max_pixels() -> int:
    """The largest image decoded, in pixels: ``MEDBENCH_MAX_PIXELS`` (64 million by default;
    a mammogram is about 20 million)."""
    if MAX_PIXELS is not None:
        return MAX_PIXELS
    from benchmark.settings import settings

    return settings().max_pixels


def _to_uint8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("L", "RGB"):
        return np.asarray(image)
    if mode in ("1", "LA"):
        return np.asarray(image.convert("L"))
    if mode.startswith("I") or mode == "F":
        return scale_deep(np.asarray(image))
    return np.asarray(image.convert("RGB"))  # P, PA, RGBA, CMYK, YCbCr, LAB, HSV


def scale_deep(array: np.ndarray) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float image to uint8 without clipping.

    Integers are scaled by the bit depth the image uses (a 12-bit scan stored in 16 bits
    spans 0–4095, so 4095 → 255); floats and negative values by their range. 16-bit data
    goes through a 65,536-entry table (no copy of the image but the uint8 result); other
    depths are scaled a band of rows at a time.
    """
    lo, hi = float(array.min()), float(array.max())
    integral = array.dtype.kind in "iu" or bool(np.all(np.mod(array, 1) == 0))
    if lo < 0 or not integral:
        offset, top = lo, max(hi - lo, 1e-12)
    else:
        bits = min(max(math.ceil(math.log2(hi + 1)), 8), 32) if hi > 0 else 8
        offset, top = 0.0, float(2**bits - 1)
    if array.dtype == np.uint16:
        table = np.round((np.arange(65536, dtype=np.float64) - offset) / top * 255)
        return np.clip(table, 0, 255).astype(np.uint8)[array]
    out = np.empty(array.shape, np.uint8)
    rows = max(1, (1 << 22) // max(array[0].size, 1))  # ~4 million values a band
    for start in range(0, array.shape[0], rows):
        band = array[start : start + rows].astype(np.float64)
        out[start : start + rows] = np.round((band - offset) / top * 255)
    return out
