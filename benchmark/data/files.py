"""Finding and decoding image files safely.

Walking a dataset never follows symbolic links to folders (no loops) nor links to files
outside the dataset's root. Decoding goes through Pillow with truncated images refused
(``LOAD_TRUNCATED_IMAGES`` stays off) and a pixel limit checked on the header, before any
pixel is decoded. Every decoded image comes back as uint8, H × W (gray) or H × W × 3 (RGB);
deeper images (16-bit PNG/TIFF/PGM) are scaled by the bit depth they use, not clipped.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "BadImage",
    "decode_image",
    "decode_with_mode",
    "is_image_file",
    "read_image",
    "walk_files",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm"}
MAX_PIXELS = 16384 * 16384  # a larger header is taken for a decompression bomb
IGNORED_DIRS = {"__MACOSX", ".git", ".ipynb_checkpoints"}

ImageFile.LOAD_TRUNCATED_IMAGES = False


class BadImage(ValueError):
    """A file that cannot be used as an image; the message says why."""


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


def read_image(path: Path | str) -> np.ndarray:
    """Read and decode one file (see :func:`decode_image`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the file: {exc.strerror or exc}") from None
    return decode_image(data)


def decode_image(data: bytes) -> np.ndarray:
    """File bytes → uint8 H × W or H × W × 3 (RGB), or :class:`BadImage` saying why not."""
    return decode_with_mode(data)[0]


def decode_with_mode(data: bytes) -> tuple[np.ndarray, str]:
    """Like :func:`decode_image`, also returning the file's own mode (``L``, ``RGB``, ``I;16``)."""
    if not data:
        raise BadImage("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadImage(
                    f"{width}×{height} pixels is over the {MAX_PIXELS:,}-pixel limit "
                    "(refused as a possible decompression bomb)"
                )
            image.load()
            return _to_uint8(image), image.mode
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "cannot identify image file" in reason:
            reason = "not an image (unknown format)"
        raise BadImage(reason) from None


def _to_uint8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("L", "RGB"):
        return np.asarray(image)
    if mode in ("1", "LA"):
        return np.asarray(image.convert("L"))
    if mode.startswith("I") or mode == "F":
        return _scale_deep(np.asarray(image))
    return np.asarray(image.convert("RGB"))  # P, PA, RGBA, CMYK, YCbCr, LAB, HSV


def _scale_deep(array: np.ndarray) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float image to uint8 without clipping.

    Integers are scaled by the bit depth the image uses (a 12-bit scan stored in 16 bits
    spans 0–4095, so 4095 → 255); floats and negative values by their range.
    """
    array = array.astype(np.float64)
    lo, hi = float(array.min()), float(array.max())
    if lo < 0 or not np.all(np.mod(array, 1) == 0):
        top = max(hi - lo, 1e-12)
        return np.round((array - lo) / top * 255).astype(np.uint8)
    bits = min(max(math.ceil(math.log2(hi + 1)), 8), 32) if hi > 0 else 8
    return np.round(array / (2**bits - 1) * 255).astype(np.uint8)
