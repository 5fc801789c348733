"""Fetching each catalogued dataset end to end, offline: fake archives built from the
layouts' own fake trees, served from 127.0.0.1 (or handed to a faked kagglehub); the
layout's reader must accept what lands under the root."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.data import create_source, write_synthetic
from benchmark.data.fetch import CATALOGUE, PROVENANCE, about, content_digest, fetch
from benchmark.errors import DataError
from tests.data.fetch._http import Files, serve

runner = CliRunner()
KAGGLE = [name for name, e in CATALOGUE.items() if e.kaggle]


def _fake(tmp_path: Path, layout: str) -> tuple[Path, dict]:
    out = tmp_path / "fake" / layout
    counts = write_synthetic(out, layout=layout, per_class=4, size=32)
    return out, counts


def _zip_of(folder: Path, *, under: str = "", skip: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (not skip or skip not in path.name):
                zf.write(path, f"{under}{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@pytest.mark.parametrize("layout", KAGGLE)
def test_a_kaggle_dataset_lands_where_its_layout_reads_it(tmp_path, monkeypatch, layout):
    import kagglehub

    fake, counts = _fake(tmp_path, layout)
    asked = []
    monkeypatch.setattr(
        kagglehub, "dataset_download", lambda handle: asked.append(handle) or str(fake)
    )
    root = tmp_path / "data" / layout
    provenance = fetch(layout, root=root, progress=False)
    assert asked == [CATALOGUE[layout].kaggle]
    assert create_source(layout, root).counts() == counts
    recorded = json.loads((root / PROVENANCE).read_text())
    assert recorded["digest"] == content_digest(root) == provenance["digest"]
    assert recorded["licence"] == CATALOGUE[layout].licence and recorded["citation"]
    assert sorted(p.name for p in root.parent.iterdir()) == [layout]  # nothing beside it


def test_missing_kaggle_credentials_say_how_to_set_them(tmp_path, monkeypatch):
    import kagglehub
    from kagglehub.exceptions import UnauthenticatedError

    def refuse(handle):
        raise UnauthenticatedError("no credentials")

    monkeypatch.setattr(kagglehub, "dataset_download", refuse)
    with pytest.raises(DataError) as refused:
        fetch("brain-tumor-mri", root=tmp_path / "btm", progress=False)
    message = str(refused.value)
    assert "KAGGLE_USERNAME" in message and "kaggle.json" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_mias_from_its_archive_with_the_cli(tmp_path, monkeypatch):
    fake, counts = _fake(tmp_path, "mias")
    tar = tmp_path / "all-mias.tar.gz"
    import tarfile

    with tarfile.open(tar, "w:gz") as tf:
        for path in sorted((fake / "all-mias").iterdir()):
            tf.add(path, path.name)  # the archive holds the files at its top
    files = Files(content={"/pix/mias/all-mias.tar.gz": tar.read_bytes()})
    with serve(files) as url:
        item = CATALOGUE["mias"]
        file = dataclasses.replace(item.files[0], url=f"{url}/pix/mias/all-mias.tar.gz")
        monkeypatch.setitem(CATALOGUE, "mias", dataclasses.replace(item, files=(file,)))
        monkeypatch.setenv("MEDBENCH_DATA", str(tmp_path / "data"))
        result = runner.invoke(app, ["data", "fetch", "mias"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "data" / "mias"
    assert create_source("mias", root).counts() == counts
    digest = json.loads((root / PROVENANCE).read_text())["digest"]
    assert digest in result.output and "research use only" in result.output
    assert "Suckling" in result.output and "not for commercial use" in result.output
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mias"]  # downloads gone
    again = runner.invoke(app, ["data", "fetch", "mias"])  # a second fetch keeps the tree
    assert again.exit_code == 0 and "already" in again.output


def test_sipakmed_from_one_archive_per_class(tmp_path, monkeypatch):
    fake, counts = _fake(tmp_path, "sipakmed")
    files, entries = Files(), []
    for f in CATALOGUE["sipakmed"].files:
        folder = fake / f.into / f.into
        files.content[f"/{f.name}"] = _zip_of(folder, under=f"{f.into}/")  # any archive kind
        entries.append(dataclasses.replace(f, url=f"/{f.name}"))
    with serve(files) as url:
        entries = [dataclasses.replace(f, url=url + f.url) for f in entries]
        item = dataclasses.replace(CATALOGUE["sipakmed"], files=tuple(entries))
        monkeypatch.setitem(CATALOGUE, "sipakmed", item)
        fetch("sipakmed", root=tmp_path / "sip", progress=False)
    assert create_source("sipakmed", tmp_path / "sip").counts() == counts


def test_cdd_cesm_needs_its_images_archive_and_downloads_the_workbook(tmp_path, monkeypatch):
    fake, counts = _fake(tmp_path, "cdd-cesm")
    top = fake / "PKG - CDD-CESM" / "CDD-CESM"
    workbook = (top / "Radiology manual annotations.xlsx").read_bytes()
    images = tmp_path / "CDD-CESM.zip"
    images.write_bytes(_zip_of(top, under="CDD-CESM/", skip=".xlsx"))
    with pytest.raises(DataError, match="--archive"):
        fetch("cdd-cesm", root=tmp_path / "cdd", progress=False)
    files = Files(content={"/annotations.xlsx": workbook})
    with serve(files) as url:
        item = CATALOGUE["cdd-cesm"]
        file = dataclasses.replace(item.files[0], url=f"{url}/annotations.xlsx")
        monkeypatch.setitem(CATALOGUE, "cdd-cesm", dataclasses.replace(item, files=(file,)))
        fetch("cdd-cesm", root=tmp_path / "cdd", archive=images, progress=False)
    assert create_source("cdd-cesm", tmp_path / "cdd").counts() == counts


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.zeros((2, 1)))
    return buffer.getvalue()


def test_medmnist_by_flag_through_the_mirror_with_its_md5(tmp_path, monkeypatch):
    from benchmark.data import medmnist

    data = _npz()
    md5 = hashlib.md5(data).hexdigest()
    monkeypatch.setattr(medmnist, "url_and_md5", lambda flag, size: (
        f"https://zenodo.invalid/records/1/files/{medmnist.file_name(flag, size)}?download=1",
        md5))  # fmt: skip
    files = Files(content={"/mirror/dermamnist_64.npz": data, "/mirror/pathmnist.npz": b"bad"})
    with serve(files) as url:
        monkeypatch.setenv("MEDBENCH_MEDMNIST_MIRROR", f"{url}/mirror/")
        root = tmp_path / "medmnist"
        result = runner.invoke(app, ["data", "fetch", "medmnist", "dermamnist", "--size", "64",
                                     "--root", str(root)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "CC BY-NC 4.0" in result.output and "not for commercial use" in result.output
        assert (root / "dermamnist_64.npz").read_bytes() == data
        bad = runner.invoke(app, ["data", "fetch", "medmnist", "pathmnist", "--root", str(root)])
    assert bad.exit_code == 1 and "MD5" in bad.output
    assert sorted(p.name for p in root.iterdir()) == [PROVENANCE, "dermamnist_64.npz"]
    recorded = json.loads((root / PROVENANCE).read_text())
    assert recorded["files"]["dermamnist_64.npz"]["md5"] == md5
    facts = about("medmnist", root, {"flag": "dermamnist", "size": 64})
    assert facts["commercial"] == "no" and facts["digest"] == f"md5:{md5}"
    assert about("medmnist", root, {"flag": "pathmnist"})["commercial"] == "yes"


def test_the_list_shows_every_name_source_size_and_licence():
    result = runner.invoke(app, ["data", "fetch", "--list"])
    assert result.exit_code == 0
    for item in CATALOGUE.values():
        assert item.name in result.output and item.size in result.output


def test_unknown_names_and_full_folders_are_refused_in_one_line(tmp_path):
    result = runner.invoke(app, ["data", "fetch", "brain-tumour-mri"])
    assert result.exit_code == 1 and "brain-tumor-mri" in result.output
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        fetch("mias", root=tmp_path / "x", progress=False)


def test_about_says_licence_and_commercial_use_per_layout(tmp_path):
    assert about("brain-tumor-mri", None)["commercial"] == "yes"
    assert about("mias", tmp_path)["commercial"] == "no"
    assert about("synthetic", None)["commercial"] == "yes"
    assert about("imagefolder", tmp_path) == {
        "licence": "unknown", "commercial": "unknown", "source": str(tmp_path), "citation": ""
    }  # fmt: skip


def test_an_interrupted_fetch_leaves_no_tree_and_resumes_its_downloads(tmp_path, monkeypatch):
    fake, counts = _fake(tmp_path, "sipakmed")
    files, entries = Files(), []
    for f in CATALOGUE["sipakmed"].files:
        files.content[f"/{f.name}"] = _zip_of(fake / f.into / f.into, under=f"{f.into}/")
        entries.append(f)
    last = f"/{entries[-1].name}"
    held = files.content.pop(last)  # the last archive is not there yet
    root = tmp_path / "sip"
    with serve(files) as url:
        entries = [dataclasses.replace(f, url=f"{url}/{f.name}") for f in entries]
        item = dataclasses.replace(CATALOGUE["sipakmed"], files=tuple(entries))
        monkeypatch.setitem(CATALOGUE, "sipakmed", item)
        with pytest.raises(DataError, match="HTTP 404"):
            fetch("sipakmed", root=root, progress=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".sip.downloads", "fake"]
        for name in list(files.content):
            files.content[name] = b"not served again"  # what was downloaded is reused
        files.content[last] = held
        fetch("sipakmed", root=root, progress=False)
    assert create_source("sipakmed", root).counts() == counts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake", "sip"]


def test_two_medmnist_fetches_into_one_root_both_recorded(tmp_path, monkeypatch):
    """Two processes (here threads) fetching into one folder wait for each other: neither
    download nor provenance entry is lost."""
    import threading

    from benchmark.data import medmnist

    data = _npz()
    md5 = hashlib.md5(data).hexdigest()
    monkeypatch.setattr(
        medmnist, "url_and_md5", lambda flag, size: (f"https://x.invalid/{flag}.npz", md5)
    )
    flags = ("bloodmnist", "pathmnist", "octmnist", "dermamnist")
    files = Files(content={f"/m/{flag}.npz": data for flag in flags})
    root, errors = tmp_path / "medmnist", []

    def one(flag):
        try:
            fetch("medmnist", flag=flag, root=root, progress=False)
        except Exception as exc:  # reported below
            errors.append(exc)

    with serve(files) as url:
        monkeypatch.setenv("MEDBENCH_MEDMNIST_MIRROR", f"{url}/m/")
        threads = [threading.Thread(target=one, args=(flag,)) for flag in flags]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    recorded = json.loads((root / PROVENANCE).read_text())
    assert sorted(recorded["files"]) == sorted(f"{flag}.npz" for flag in flags)
    assert sorted(p.name for p in root.iterdir()) == sorted([PROVENANCE, *recorded["files"]])
