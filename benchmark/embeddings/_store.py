"""The embedding cache on disk: shards of features per key, written atomically, checked
on read (see :mod:`benchmark.embeddings` for the layout). numpy only: ``medbench data cache``
lists it without torch."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ABOUT", "FORMAT", "EmbeddingStore", "StoredKey"]

FORMAT = 1  # bump when what a key names or how a shard is written changes
ABOUT = "about.json"


@dataclass(frozen=True)
class StoredKey:
    """One key's folder, as ``medbench data cache`` lists it."""

    key: str
    about: dict[str, Any]
    images: int  # distinct images with features under this key
    bytes: int


_WARNED: set[Path] = set()
_VERIFIED: dict[Path, tuple[int, int, int, int]] = {}  # data files checked by this process


@dataclass
class EmbeddingStore:
    """Features on disk under ``root`` (``<cache folder>/embeddings``), one folder per key."""

    root: Path
    _unwritable: bool = field(default=False, repr=False)

    def _folder(self, key: str) -> Path:
        if not key or Path(key).name != key or key in (".", ".."):
            raise ValueError(f"Expected `key` to be a plain folder name, but got {key!r}.")
        return self.root / key

    @contextlib.contextmanager
    def computing(self, key: str) -> Iterator[None]:
        """Held while this process looks up and computes ``key``'s features: another process
        that needs the same waits, then finds them cached (workers starting cells of one
        backbone together embed its images once). Without a writable folder, no lock."""
        try:
            self._folder(key).mkdir(parents=True, exist_ok=True)
            handle = (self._folder(key) / ".lock").open("a")
        except OSError:
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def lookup(self, key: str, shas: Sequence[str]) -> dict[str, tuple[np.ndarray, int]]:
        """Per cached image among ``shas``: its shard (memory-mapped, checked) and row."""
        folder = self._folder(key)
        wanted = set(shas)
        found: dict[str, tuple[np.ndarray, int]] = {}
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if path.name == ABOUT or not (record := _read_record(path)):
                continue
            rows = [(sha, i) for i, sha in enumerate(record["rows"]) if sha in wanted]
            if not any(sha not in found for sha, _ in rows):
                continue
            array = _open_shard(path, record)
            if array is None:
                continue
            for sha, i in rows:
                found.setdefault(sha, (array, i))
        return found

    def put(
        self,
        key: str,
        shas: Sequence[str],
        features: np.ndarray,
        *,
        about: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write ``features`` (row ``i`` for ``shas[i]``) as one shard; ``False`` when the
        folder cannot be written (one warning per folder, then no more tries)."""
        if self._unwritable:
            return False
        data = io.BytesIO()
        np.save(data, np.ascontiguousarray(features, dtype=np.float32), allow_pickle=False)
        payload = data.getvalue()
        checksum = hashlib.sha256(payload).hexdigest()
        rows = hashlib.sha256("\n".join(shas).encode()).hexdigest()[:24]
        name = f"{rows}-{checksum[:16]}.npy"
        record = {
            "format": FORMAT,
            "file": name,
            "rows": list(shas),
            "shape": list(features.shape),
            "dtype": "float32",
            "bytes": len(payload),
            "sha256": checksum,
        }
        folder = self._folder(key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if about is not None and not (folder / ABOUT).exists():
                _write_atomic(folder / ABOUT, json.dumps(dict(about), default=str).encode())
            _write_atomic(folder / name, payload)  # the data first: a record names only files
            _write_atomic(folder / f"{rows}.json", json.dumps(record).encode())
        except OSError as exc:
            self._unwritable = True
            if self.root not in _WARNED:
                _WARNED.add(self.root)
                from benchmark.console import warning

                reason = exc.strerror or str(exc)
                warning(
                    f"the embedding cache {self.root} cannot be written ({reason}). Going on "
                    "without caching embeddings."
                )
            return False
        return True

    def usage(self) -> list[StoredKey]:
        """Every key's folder: what it names, its images and its size (records read, data
        files not opened)."""
        keys = []
        try:
            folders = sorted(self.root.iterdir())
        except OSError:  # none yet
            return []
        for folder in folders:
            if not folder.is_dir():
                continue
            images: set[str] = set()
            size = 0
            for path in folder.iterdir():
                size += _size(path)
                if path.suffix == ".json" and path.name != ABOUT and (record := _read_record(path)):
                    images.update(record["rows"])
            keys.append(StoredKey(folder.name, _read_json(folder / ABOUT) or {}, len(images), size))
        return keys

    def clear(self) -> None:
        """Delete every cached embedding (computed again when next needed)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:  # removed meanwhile
        return 0


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_record(path: Path) -> dict[str, Any] | None:
    """A shard's record, or ``None`` when it is unreadable or not one this version wrote."""
    record = _read_json(path)
    fields = ("file", "rows", "shape", "bytes", "sha256")
    if record is None or record.get("format") != FORMAT or not all(f in record for f in fields):
        return None
    name = record["file"]
    if not isinstance(record["rows"], list) or not isinstance(name, str):
        return None
    if Path(name).name != name or not name.endswith(".npy"):  # a file beside it, no other
        return None
    return record


def _open_shard(record_path: Path, record: Mapping[str, Any]) -> np.ndarray | None:
    """The shard's features, memory-mapped, when its file has the size and sha256 its record
    gives (checked once per process and file version); else the damaged shard is removed
    and ``None`` returned."""
    path = record_path.with_name(record["file"])
    try:
        info = path.stat()
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if _VERIFIED.get(path) != stamp:
            if info.st_size != record["bytes"] or _file_sha256(path) != record["sha256"]:
                raise ValueError("damaged")
            _VERIFIED[path] = stamp
        # copy-on-write: torch wraps a writable map without a warning, and a caller that
        # changes the features in place (centring) changes its own pages, never the file
        array = np.load(path, mmap_mode="c", allow_pickle=False)
        if array.dtype != np.float32 or list(array.shape) != list(record["shape"]):
            raise ValueError("not the recorded shape")
        if array.ndim != 2 or len(array) != len(record["rows"]):
            raise ValueError("not one row per image")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        _VERIFIED.pop(path, None)
        for damaged in (path, record_path):
            with contextlib.suppress(OSError):  # read-only: skipped each time instead
                damaged.unlink(missing_ok=True)
        return None
    return array


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
