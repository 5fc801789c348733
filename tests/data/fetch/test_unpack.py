"""Unpacking: nothing outside the destination, no links, bombs refused, no half tree."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from benchmark.data.fetch import unpack
from benchmark.errors import DataError


def _zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, target)
    return path


def _tar(path: Path, entries: dict[str, bytes], *, symlink: str = "", hardlink: str = "") -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind in ((symlink, tarfile.SYMTYPE), (hardlink, tarfile.LNKTYPE)):
            if name:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, "/etc/passwd"
                tf.addfile(info)
    return path


GOOD = {"top/a.txt": b"a", "top/sub/b.txt": b"bb"}


@pytest.mark.parametrize("make", [_zip, _tar])
def test_a_good_archive_unpacks_into_place(tmp_path, make):
    archive = make(tmp_path / "good.arc", GOOD)
    dest = unpack(archive, tmp_path / "out")
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"bb"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.arc", "out"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o777 & ~umask  # others may read a shared data folder


@pytest.mark.parametrize("make", [_zip, _tar])
@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/abs/evil.txt"])
def test_an_entry_climbing_out_is_refused(tmp_path, make, name):
    archive = make(tmp_path / "bad.arc", {**GOOD, name: b"x"})
    with pytest.raises(DataError, match="outside the destination"):
        unpack(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arc"]  # no half tree


def test_a_symbolic_link_in_a_zip_is_refused(tmp_path):
    archive = _zip(tmp_path / "link.zip", GOOD, links={"top/passwd": "/etc/passwd"})
    with pytest.raises(DataError, match="symbolic link"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kind", "words"), [("symlink", "symbolic link"), ("hardlink", "hard link")]
)
def test_links_in_a_tar_are_refused(tmp_path, kind, words):
    archive = _tar(tmp_path / "link.tar.gz", GOOD, **{kind: "top/passwd"})
    with pytest.raises(DataError, match=words):
        unpack(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tar.gz"]


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"layer/{i}.bin", b"\0" * (8 << 20))  # 32 MiB of zeros in ~32 KiB
    assert archive.stat().st_size < 200_000
    with pytest.raises(DataError, match="zip bomb"):
        unpack(archive, tmp_path / "out", max_bytes=16 << 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_too_many_entries_are_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"f/{i}.txt": b"" for i in range(50)})
    with pytest.raises(DataError, match="more than the 10"):
        unpack(archive, tmp_path / "out", max_files=10)


def test_a_damaged_deflate_stream_is_one_line(tmp_path):
    archive = _zip(tmp_path / "good.zip", {"a.bin": bytes(range(256)) * 4000})
    data = bytearray(archive.read_bytes())
    start = 30 + len("a.bin")  # the first byte of the entry's compressed data
    data[start] = 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="is damaged"):
        unpack(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.zip"]


def test_a_damaged_archive_is_one_line(tmp_path):
    archive = _tar(tmp_path / "good.tar.gz", {"a.bin": bytes(range(256)) * 4000})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as refused:
        unpack(archive, tmp_path / "out")
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_an_existing_destination_is_not_overwritten(tmp_path):
    archive = _zip(tmp_path / "good.zip", GOOD)
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="exists already"):
        unpack(archive, tmp_path / "out")


def test_a_7z_archive_unpacks_and_its_links_are_refused(tmp_path):
    import py7zr

    source = tmp_path / "src"
    (source / "im_Parabasal" / "CROPPED").mkdir(parents=True)
    (source / "im_Parabasal" / "CROPPED" / "001_01.bmp").write_bytes(b"bmp")
    with py7zr.SevenZipFile(tmp_path / "good.7z", "w") as sz:
        sz.writeall(source / "im_Parabasal", "im_Parabasal")
    dest = unpack(tmp_path / "good.7z", tmp_path / "out")
    assert (dest / "im_Parabasal" / "CROPPED" / "001_01.bmp").read_bytes() == b"bmp"
    (source / "im_Parabasal" / "link").symlink_to("/etc/passwd")
    with py7zr.SevenZipFile(tmp_path / "link.7z", "w") as sz:
        sz.writeall(source / "im_Parabasal", "im_Parabasal")
    with pytest.raises(DataError, match="symbolic link"):
        unpack(tmp_path / "link.7z", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
