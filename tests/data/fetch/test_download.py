"""Downloads: checked, resumed, and never a wrong or short file under the final name."""

from __future__ import annotations

import hashlib

import pytest

from benchmark.data.fetch import PART_SUFFIX, download
from benchmark.errors import DataError
from tests.data.fetch._http import Files, serve

DATA = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def files():
    return Files(content={"/a.npz": DATA, "/short.npz": DATA, "/plain.npz": DATA},
                 truncated={"/short.npz"}, no_range={"/plain.npz"})  # fmt: skip


def test_a_good_file_is_saved_with_its_md5_checked(tmp_path, files):
    with serve(files) as url:
        saved = download(f"{url}/a.npz", tmp_path / "a.npz", md5=MD5, progress=False)
    assert saved.read_bytes() == DATA
    assert not (tmp_path / f"a.npz{PART_SUFFIX}").exists()


def test_a_wrong_checksum_is_refused_and_nothing_is_left(tmp_path, files):
    with serve(files) as url, pytest.raises(DataError) as refused:
        download(f"{url}/a.npz", tmp_path / "a.npz", md5="0" * 32, progress=False)
    assert "differs from the published" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_response_is_refused_and_nothing_lies_under_the_final_name(tmp_path, files):
    with serve(files) as url, pytest.raises(DataError) as refused:
        download(f"{url}/short.npz", tmp_path / "a.npz", md5=MD5, progress=False)
    assert "resume" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "a.npz").exists()


def test_a_partial_file_is_resumed_with_a_range_request(tmp_path, files):
    (tmp_path / f"a.npz{PART_SUFFIX}").write_bytes(DATA[:300_000])
    with serve(files) as url:
        saved = download(f"{url}/a.npz", tmp_path / "a.npz", md5=MD5, progress=False)
    assert files.ranges == ["bytes=300000-"]
    assert saved.read_bytes() == DATA


def test_a_server_ignoring_ranges_gets_the_whole_file_again(tmp_path, files):
    (tmp_path / f"plain.npz{PART_SUFFIX}").write_bytes(b"junk" * 1000)
    with serve(files) as url:
        saved = download(f"{url}/plain.npz", tmp_path / "plain.npz", md5=MD5, progress=False)
    assert saved.read_bytes() == DATA


def test_a_complete_part_file_is_checked_and_kept(tmp_path, files):
    (tmp_path / f"a.npz{PART_SUFFIX}").write_bytes(DATA)  # the server answers 416
    with serve(files) as url:
        saved = download(f"{url}/a.npz", tmp_path / "a.npz", md5=MD5, progress=False)
    assert saved.read_bytes() == DATA


def test_a_missing_file_is_one_line(tmp_path, files):
    with serve(files) as url, pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/nope.npz", tmp_path / "nope.npz", progress=False)
    assert not (tmp_path / "nope.npz").exists()


def test_a_file_url_is_copied_and_checked(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.npz").write_bytes(DATA)
    saved = download((mirror / "a.npz").as_uri(), tmp_path / "out" / "a.npz", md5=MD5)
    assert saved.read_bytes() == DATA
    with pytest.raises(DataError, match="differs"):
        download((mirror / "a.npz").as_uri(), tmp_path / "out" / "b.npz", sha256="1" * 64)
    assert not (tmp_path / "out" / "b.npz").exists()
