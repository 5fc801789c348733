"""Arrays of an ``.npz`` archive read without loading them: their shapes from the headers,
and each one unpacked once (streamed, never whole in memory) into an ``.npy`` file in the
cache, then memory-mapped. numpy cannot map an array inside an ``.npz`` (a zip, often
compressed), and MedMNIST's largest files hold 16 GB of pixels.

Unpacked arrays lie in ``<cache>/npz/<key>/<name>.npy``, ``key`` naming the archive by its
resolved path, size and modification time (a file replaced by another is unpacked anew).
Each is written to a temporary file and renamed when complete, under a lock, so two
processes unpack it once between them and neither ever maps a partial file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmark.errors import DataError

__all__ = ["ArrayHeader", "headers", "load_small", "npz_key", "unpacked"]

_CHUNK = 16 * 2**20


class ArrayHeader(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool


def _archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{path} is not a complete .npz file ({exc}): a truncated or interrupted "
            "download? Fetch it again."
        ) from None


def _read_header(stream) -> ArrayHeader:
    fmt = np.lib.format
    major, _ = fmt.read_magic(stream)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, fortran, dtype = read(stream)
    return ArrayHeader(tuple(shape), np.dtype(dtype), bool(fortran))


def headers(path: Path) -> dict[str, ArrayHeader]:
    """Shape, dtype and order of every array in the archive, by name (without ``.npy``),
    read from the headers alone."""
    out: dict[str, ArrayHeader] = {}
    with _archive(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                with archive.open(member) as stream:
                    out[member.removesuffix(".npy")] = _read_header(stream)
            except (ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise DataError(f"{path}: its array {member} is unreadable ({exc}).") from None
    return out


def load_small(path: Path, name: str) -> np.ndarray:
    """Array ``name`` of the archive, loaded into memory (for the small ones: labels)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive[name]
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataError(
            f"{path}: its array {name} is unreadable ({exc}): fetch it again."
        ) from None


def npz_key(path: Path) -> str:
    """Names the archive as it is now: resolved path, size and modification time."""
    stat = path.stat()
    ident = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def unpacked(path: Path, names: list[str], *, cache: Path | None) -> dict[str, np.ndarray]:
    """Arrays ``names`` of the archive at ``path``, memory-mapped read-only from ``.npy``
    files in ``cache`` (unpacked on first use; without a cache, in the system's temporary
    folder)."""
    from filelock import FileLock

    base = cache if cache is not None else Path(tempfile.gettempdir()) / "medbench"
    folder = base / "npz" / npz_key(path)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, np.ndarray] = {}
    for name in names:
        target = folder / f"{name}.npy"
        if not target.is_file():
            with FileLock(str(folder / f"{name}.lock")):
                if not target.is_file():  # another process may have unpacked it meanwhile
                    _unpack(path, name, target)
        out[name] = np.load(target, mmap_mode="r", allow_pickle=False)
    return out


def _unpack(path: Path, name: str, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, _archive(path) as archive:
            try:
                with archive.open(f"{name}.npy") as stream:  # the CRC is checked at its end
                    shutil.copyfileobj(stream, out, _CHUNK)
            except KeyError:
                raise DataError(f"{path} has no array {name}.") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise DataError(
                    f"{path}: its array {name} is damaged ({exc}): fetch the file again."
                ) from None
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
