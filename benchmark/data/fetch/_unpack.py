"""Archives unpacked safely: zip, tar (plain, gz, bz2, xz) and 7-Zip (py7zr). Every entry
must stay inside the destination (no absolute path, no ``..``) and be a plain file or folder
(no symbolic or hard link, no device); the entries' count and total size are bounded (a zip
bomb is refused before a byte is written, and the bytes written are counted as well).
:func:`unpack` extracts into a temporary sibling renamed into place at the end, so an
interrupted unpack never leaves a half tree under the final name."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from benchmark.errors import DataError

__all__ = ["MAX_BYTES", "MAX_FILES", "extract", "staging", "unpack"]

MAX_BYTES = 64 * 2**30  # the largest seed dataset unpacks to a few GB
MAX_FILES = 500_000
_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Entry:
    name: str  # relative POSIX path inside the archive
    size: int
    is_dir: bool
    problem: str = ""  # why it may not be unpacked (a link, a device, ...)


def unpack(
    archive: Path | str,
    dest: Path | str,
    *,
    max_bytes: int = MAX_BYTES,
    max_files: int = MAX_FILES,
) -> Path:
    """``archive`` unpacked as the folder ``dest`` (which must not exist yet): extracted into
    a temporary sibling, renamed to ``dest`` once complete."""
    dest = Path(dest)
    if dest.exists():
        raise DataError(f"{dest} exists already; remove it, or unpack somewhere else.")
    with staging(dest) as folder:
        extract(archive, folder, max_bytes=max_bytes, max_files=max_files)
    return dest


@contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A temporary folder beside ``dest``, renamed to ``dest`` when the block ends without
    an error and removed when it fails (or is interrupted)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        yield folder
        folder.chmod(0o777 & ~current_umask())  # mkdtemp's folder is its owner's only
        folder.rename(dest)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def extract(
    archive: Path | str,
    folder: Path | str,
    *,
    max_bytes: int = MAX_BYTES,
    max_files: int = MAX_FILES,
) -> int:
    """Every entry of ``archive`` written under ``folder`` after the whole listing was
    checked; returns the bytes written. Refused in one line: an entry outside ``folder``, a
    link or other special file, more than ``max_files`` entries or ``max_bytes`` bytes."""
    archive, folder = Path(archive), Path(folder)
    kind = _kind(archive)
    if kind == "7z":
        return _extract_7z(archive, folder, max_bytes=max_bytes, max_files=max_files)
    with _open(archive, kind) as (entries, read):
        _check(archive, entries, max_bytes=max_bytes, max_files=max_files)
        written = 0
        for entry in entries:
            target = folder.joinpath(*_parts(entry.name))
            if entry.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with read(entry) as source, open(target, "wb") as out:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:  # sizes in the listing can lie
                        raise DataError(_too_big(archive, max_bytes))
                    out.write(chunk)
    return written


def _kind(archive: Path) -> str:
    if not archive.is_file():
        raise DataError(f"{archive} is not a file.")
    with open(archive, "rb") as f:
        head = f.read(8)
    if head.startswith(_SEVEN_ZIP):
        return "7z"
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise DataError(f"{archive} is neither a zip, a tar(.gz/.bz2/.xz) nor a 7z archive.")


@contextmanager
def _open(archive: Path, kind: str):
    """``(entries, read)``: the archive's listing and a function opening one entry."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                yield [_zip_entry(i) for i in zf.infolist()], lambda e: zf.open(e.name)
        else:
            with tarfile.open(archive) as tf:
                members = {m.name: m for m in tf.getmembers()}
                yield ([_tar_entry(m) for m in members.values()],
                       lambda e: _tar_read(tf, members[e.name]))  # fmt: skip
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise DataError(
                f"no space left while unpacking {archive} into {archive.parent}: free some "
                "(the unpacked data needs about the archive's listed size), or use --root."
            ) from None
        if isinstance(exc, OSError) and not isinstance(exc, EOFError) and exc.errno:
            raise  # a disk error, not a damaged archive
        raise DataError(f"{archive} is damaged ({exc}); download it again.") from None


def _zip_entry(info: zipfile.ZipInfo) -> _Entry:
    mode = info.external_attr >> 16
    problem = "a symbolic link" if stat.S_ISLNK(mode) else ""
    kind = stat.S_IFMT(mode)  # 0: not recorded (permissions only, or a DOS archive)
    if kind and not problem and kind not in (stat.S_IFREG, stat.S_IFDIR):
        problem = "a special file"
    return _Entry(info.filename, info.file_size, info.is_dir(), problem)


def _tar_entry(member: tarfile.TarInfo) -> _Entry:
    problem = (
        "a symbolic link" if member.issym()
        else "a hard link" if member.islnk()
        else "" if member.isfile() or member.isdir()
        else "a special file"
    )  # fmt: skip
    return _Entry(member.name, member.size, member.isdir(), problem)


def _tar_read(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    source = tf.extractfile(member)
    if source is None:
        raise DataError(f"{member.name} cannot be read from its archive.")
    return source


def _extract_7z(archive: Path, folder: Path, *, max_bytes: int, max_files: int) -> int:
    """A 7-Zip archive checked as the others are, then extracted by py7zr (which streams
    solid blocks itself and refuses paths outside ``folder`` too); the bytes on disk are
    counted afterwards."""
    import py7zr

    try:
        with py7zr.SevenZipFile(archive) as sz:
            entries = [
                _Entry(f.filename, f.uncompressed or 0, f.is_directory,
                       "a symbolic link" if f.is_symlink else "")
                for f in sz.files
            ]  # fmt: skip
            _check(archive, entries, max_bytes=max_bytes, max_files=max_files)
            sz.extractall(path=folder)
    except (py7zr.exceptions.ArchiveError, py7zr.exceptions.Bad7zFile, EOFError) as exc:
        raise DataError(f"{archive} is damaged ({exc}); download it again.") from None
    written = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    if written > max_bytes:
        raise DataError(_too_big(archive, max_bytes))
    return written


def _check(archive: Path, entries: list[_Entry], *, max_bytes: int, max_files: int) -> None:
    if len(entries) > max_files:
        raise DataError(
            f"{archive} holds {len(entries)} entries, more than the {max_files} allowed; "
            "refused (is it the right archive?)."
        )
    total = 0
    for entry in entries:
        if entry.problem:
            raise DataError(f"{archive}: entry {entry.name!r} is {entry.problem}; refused.")
        parts = _parts(entry.name)
        if entry.name.startswith(("/", "\\")) or ".." in parts or ":" in entry.name or not parts:
            raise DataError(
                f"{archive}: entry {entry.name!r} would land outside the destination; refused."
            )
        total += entry.size
        if total > max_bytes:
            raise DataError(_too_big(archive, max_bytes))


def _parts(name: str) -> tuple[str, ...]:
    """An entry's path as parts, either slash a separator (``.`` and empty parts dropped)."""
    return PurePosixPath(name.replace("\\", "/")).parts


def _too_big(archive: Path, max_bytes: int) -> str:
    return (
        f"{archive} unpacks to more than {max_bytes / 2**30:.1f} GiB, the limit; refused "
        "(a zip bomb, or the wrong archive)."
    )


def current_umask() -> int:
    """The process's umask (read by setting it, then put back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
