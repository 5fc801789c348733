"""On-disk cache of what decoding costs: preprocessed images and per-image facts.

Content-addressed: an image is known by the sha256 of its file's bytes (rendered phantoms by
their generator settings), so the cache is shared by every cell, run and suite that reads
the same file with the same ops, and a changed file is never served stale. Arrays lie in
``arrays/<ops key>/<sha[:2]>/<sha>.npy`` (a lesion mask beside as ``<sha>.mask.npy``);
facts (size, mode, perceptual hash, decode error) in ``facts.sqlite``. A large set of
preprocessed images lies whole in ``sets/<ops key>/<digest>.npy``, memory-mapped; arrays
unpacked from ``.npz`` files in ``npz/`` (:mod:`benchmark.data.npz`).

Location: ``MEDBENCH_CACHE``, else ``~/.cache/medbench``; ``MEDBENCH_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from benchmark.data.dicom import DicomOptions
from benchmark.data.preprocess import OPS_VERSION, Op
from benchmark.settings import cache_home

__all__ = ["FACT_COLUMNS", "ImageCache", "default_cache"]

FACT_COLUMNS = ("sha256", "width", "height", "mode", "phash", "error")
# decoded images one by one, whole sets memory-mapped, arrays unpacked from .npz archives
_PARTS = ("arrays", "sets", "npz")


def default_cache() -> ImageCache | None:
    """The cache named by ``MEDBENCH_CACHE`` (``off``, or a folder that cannot be written:
    none), else ``~/.cache/medbench``."""
    home = cache_home()
    return ImageCache(home) if home is not None else None


class ImageCache:
    def __init__(self, root: Path):
        self.root = root

    def usage(self) -> tuple[int, int]:
        """``(files, bytes)`` of decoded images and facts on disk (not what shares the
        folder: embeddings, timm's names)."""
        files = [p for part in _PARTS for p in (self.root / part).rglob("*") if p.is_file()]
        files += [p for p in self.root.glob("facts.sqlite*") if p.is_file()]
        return len(files), sum(p.stat().st_size for p in files)

    def clear(self) -> None:
        """Delete the decoded images and facts (rebuilt on the next load)."""
        for part in _PARTS:
            shutil.rmtree(self.root / part, ignore_errors=True)
        for path in self.root.glob("facts.sqlite*"):
            path.unlink(missing_ok=True)

    # --- preprocessed arrays -------------------------------------------------------------

    @staticmethod
    def key(
        ops: Sequence[Op], size: int, *, dicom: DicomOptions | None = None, gray: bool = False
    ) -> str:
        """Names one preprocessing: the op list, the final size and the ops' version (and
        how DICOM files are read, when that is not the default; ``gray`` when colour files
        are read as grey)."""
        parts: list = [OPS_VERSION, [list(op) for op in ops], size]
        if dicom is not None and dicom != DicomOptions():
            parts.append(dicom.model_dump(mode="json"))
        if gray:
            parts.append("gray")
        recipe = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(recipe.encode()).hexdigest()[:16]

    def _path(self, key: str, sha: str) -> Path:
        return self.root / "arrays" / key / sha[:2] / f"{sha}.npy"

    def get(self, key: str, sha: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        path = self._path(key, sha)
        try:
            image = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # absent, or cut short by a crash: recompute
            return None
        mask_path = path.with_suffix(".mask.npy")
        mask = np.load(mask_path, allow_pickle=False) if mask_path.exists() else None
        return image, mask

    def put(self, key: str, sha: str, *, image: np.ndarray, mask: np.ndarray | None) -> None:
        path = self._path(key, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        if mask is not None:  # written first: once the image exists, the mask's absence means none
            _save_atomic(path.with_suffix(".mask.npy"), mask)
        _save_atomic(path, image)

    # --- whole sets, memory-mapped ------------------------------------------------------

    def set_path(self, recipe: str, keys: Sequence[str], shape: tuple[int, ...]) -> Path:
        """Where the set of images ``keys`` prepared by ``recipe`` as ``shape`` lies."""
        digest = hashlib.sha256(
            json.dumps([recipe, list(shape)]).encode() + "\n".join(keys).encode()
        ).hexdigest()[:32]
        return self.root / "sets" / recipe / f"{digest}.npy"

    def image_set(
        self,
        recipe: str,
        keys: Sequence[str],
        write: Callable[[tuple[int, ...], Callable[[np.ndarray], None]], dict[int, np.ndarray]],
        *,
        shape: tuple[int, ...],
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The uint8 array ``shape`` of the images ``keys`` prepared by ``recipe``,
        memory-mapped (copy on write: the file never changes) from
        ``sets/<recipe>/<digest>.npy``, and their lesion masks by position. Made once by
        ``write(shape, sink)``, which hands ``sink`` the images in order, chunk by chunk,
        and returns the masks: into a temporary file renamed when complete, under a lock
        (two processes make it once between them)."""
        from filelock import FileLock

        path = self.set_path(recipe, keys, shape)
        masks_path = path.with_suffix(".masks.npz")
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(f"{path}.lock"):
                if not path.is_file():
                    _write_set(path, masks_path, shape, write)
        images = np.load(path, mmap_mode="c", allow_pickle=False)
        masks: dict[int, np.ndarray] = {}
        if masks_path.is_file():
            with np.load(masks_path, allow_pickle=False) as stored:
                masks = dict(zip(stored["index"].tolist(), stored["masks"], strict=True))
        return images, masks

    # --- facts ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / "facts.sqlite", timeout=30)
        db.execute(
            "CREATE TABLE IF NOT EXISTS facts_v3 (sha256 TEXT PRIMARY KEY, width INTEGER, "
            "height INTEGER, mode TEXT, phash TEXT, error TEXT)"
        )
        return db

    def facts(self, shas: Iterable[str]) -> dict[str, tuple]:
        wanted = list(dict.fromkeys(shas))
        found: dict[str, tuple] = {}
        with self._connect() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT * FROM facts_v3 WHERE sha256 IN ({marks})", chunk)
                found.update({row[0]: row for row in rows})
        return found

    def put_facts(self, rows: Iterable[tuple]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO facts_v3 VALUES (?, ?, ?, ?, ?, ?)", list(rows))


def _save_atomic(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_set(path: Path, masks_path: Path, shape: tuple[int, ...], write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_2_0(f, header)
            masks = write(shape, lambda chunk: f.write(memoryview(chunk).cast("B")))
        if masks:  # written first: once the images exist, no masks file means none
            index = np.fromiter(masks, dtype=np.int64)
            fd_m, tmp_m = tempfile.mkstemp(dir=path.parent, suffix=".npz")
            with os.fdopen(fd_m, "wb") as f:
                np.savez(f, index=index, masks=np.stack([masks[i] for i in index.tolist()]))
            os.replace(tmp_m, masks_path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
