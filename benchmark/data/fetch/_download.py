"""One file over HTTP(S): resumed from a ``.part`` file beside its destination, checked
against its published checksum, then renamed into place; a truncated or corrupt file never
lies under the final name."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from benchmark.errors import DataError

__all__ = ["PART_SUFFIX", "download"]

PART_SUFFIX = ".part"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


def download(
    url: str,
    dest: Path | str,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """``url`` saved as ``dest``. Bytes arrive in ``dest.part``; a ``.part`` left by an
    interrupted download is continued with a Range request where the server allows it
    (else started again). The file is checked against ``md5`` / ``sha256`` (when given) and
    its announced length before the atomic rename to ``dest``: a short or wrong file is
    refused in one line (a short one's ``.part`` is kept to resume, a wrong one's removed).
    A ``dest`` already holding the expected checksum is kept as it is; a ``file://`` URL
    (a mirror on a shared disk) is copied and checked alike."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    expected = {k: v.lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    if dest.is_file() and expected and _digests(dest, expected) == expected:
        return dest
    hashers = {alg: hashlib.new(alg) for alg in expected}
    total: int | None
    if url.startswith("file://"):  # a mirror on a shared disk: copied, then checked alike
        done = total = _copy_local(url, part, hashers)
    else:
        done, total = _fetch(url, part, dest, hashers, progress)
    if total is not None and done != total:
        raise DataError(
            f"download of {url} is truncated: {done} of {total} bytes arrived; nothing was "
            f"saved as {dest}. Run the same command again to resume from {part.name}."
        )
    for alg, want in expected.items():
        got_digest = hashers[alg].hexdigest()
        if got_digest != want:
            part.unlink(missing_ok=True)
            raise DataError(
                f"{url}: {alg.upper()} {got_digest} differs from the published {want}; the "
                f"file was deleted and nothing saved as {dest}. Try again, or check the URL "
                "(a mirror may serve another version)."
            )
    os.replace(part, dest)
    return dest


def _fetch(
    url: str, part: Path, dest: Path, hashers: dict, progress: bool
) -> tuple[int, int | None]:
    """``url``'s bytes appended to ``part`` (continued where it holds some), hashed; returns
    the bytes now in ``part`` and the size announced (``None``: not announced)."""
    import requests

    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _get(requests, url, offset)
        if offset and response.status_code != 206:  # the server ignores Range: start again
            offset = 0
        total = _total(response, offset)
        if offset:
            _feed(part, hashers)
        done = offset
        with (
            response,
            open(part, "ab" if offset else "wb") as out,
            _bar(dest.name, progress) as bar,
        ):
            bar(done, total)
            for chunk in response.iter_content(chunk_size=_CHUNK):
                out.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
                done += len(chunk)
                bar(done, total)
    except requests.RequestException as exc:
        got = part.stat().st_size if part.is_file() else 0
        raise DataError(
            f"download of {url} broke off after {got} bytes ({_reason(exc)}); nothing was "
            f"saved as {dest}. Run the same command again to resume from {part.name}."
        ) from None
    return done, total


def _copy_local(url: str, part: Path, hashers: dict) -> int:
    from urllib.parse import unquote, urlparse

    source = Path(unquote(urlparse(url).path))
    if not source.is_file():
        raise DataError(f"{url}: no such file; check the mirror setting.")
    done = 0
    with open(source, "rb") as f, open(part, "wb") as out:
        while chunk := f.read(_CHUNK):
            out.write(chunk)
            for h in hashers.values():
                h.update(chunk)
            done += len(chunk)
    return done


def _get(requests, url: str, offset: int):
    """The response to a GET of ``url`` from byte ``offset`` (a fresh GET when the server
    says the range cannot be satisfied); an HTTP error is a :class:`DataError`."""
    headers = {"Accept-Encoding": "identity"}  # the bytes as published, as they are hashed
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT_S)
    if offset and response.status_code == 416:  # the .part is complete or foreign
        response.close()
        response = requests.get(
            url, headers={"Accept-Encoding": "identity"}, stream=True, timeout=_TIMEOUT_S
        )
    if response.status_code >= 400:
        response.close()
        raise DataError(
            f"{url} answered HTTP {response.status_code} {response.reason}; check the URL "
            "(or the mirror setting) and your network."
        )
    return response


def _total(response, offset: int) -> int | None:
    """The size the whole file will have, where the server says."""
    length = response.headers.get("Content-Length")
    if length is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    return int(length) + offset


def _feed(path: Path, hashers: dict) -> None:
    if not hashers:
        return
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)


def _digests(path: Path, expected: dict[str, str]) -> dict[str, str]:
    return {alg: file_digest(path, alg) for alg in expected}


def file_digest(path: Path, alg: str = "sha256") -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(alg)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@contextlib.contextmanager
def _bar(name: str, shown: bool):
    """``update(done, total)`` of a transient byte progress bar (nothing when not shown)."""
    if not shown:
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from benchmark.console import console

    columns = (TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(name, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
