"""The medmnist layout: MedMNIST's files as downloaded, checked against INFO, read through
arrays unpacked once into the cache and memory-mapped; its task from INFO; the listing of
``medbench data inspect --layout medmnist``."""

from __future__ import annotations

import copy
import json
import os
import threading
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark.checks import NAMES
from benchmark.data import create_source, load_images, npz
from benchmark.data import medmnist as mm
from benchmark.data.cache import ImageCache
from benchmark.data.layouts.medmnist import MedmnistOptions, write_fake_file
from benchmark.errors import DataError
from benchmark.suite._schema import DatasetConfig

SMALL = {"train": 30, "val": 12, "test": 12}


@pytest.fixture(autouse=True)
def small_info(monkeypatch):
    """INFO with a few images per split, so fakes of any flag are small."""
    table = copy.deepcopy(mm._table())
    for entry in table.values():
        entry["n_samples"] = dict(SMALL)
    monkeypatch.setattr(mm, "_table", lambda: table)


def _source(root, **options):
    return create_source("medmnist", root, options=MedmnistOptions(**options))


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_reads_the_official_split_ids_labels_and_pixels(tmp_path):
    path = write_fake_file(tmp_path, "pathmnist", 28, seed=3)
    assert path.name == "pathmnist.npz"
    source = _source(tmp_path, flag="pathmnist")
    arrays = _arrays(path)
    names = mm.labels("pathmnist")
    assert source.classes == sorted(names) and not source.multilabel
    assert len(source) == sum(SMALL.values())
    assert list(source.records["split"].value_counts().sort_index().items()) == sorted(
        SMALL.items())  # fmt: skip
    at = source.records.index[source.records["id"] == "val/000007"][0]
    image, mask = source.read(at)
    assert mask is None and image.shape == (28, 28, 3)
    np.testing.assert_array_equal(image, arrays["val_images"][7])
    assert source.records.at[at, "label"] == names[arrays["val_labels"][7, 0]]
    assert source.counts()["test"] == {
        names[k]: int(n) for k, n in enumerate(np.bincount(arrays["test_labels"][:, 0]))
        if n}  # fmt: skip


def test_size_names_the_file_and_a_missing_one_says_how_to_fetch(tmp_path):
    write_fake_file(tmp_path, "dermamnist", 64)
    assert _source(tmp_path, flag="dermamnist", size=64).read(0)[0].shape == (64, 64, 3)
    assert _source(tmp_path, size=64).fingerprint.startswith("medmnist:dermamnist:64")  # alone
    with pytest.raises(DataError, match=r"dermamnist_128\.npz does not exist.*data fetch medmnist"):
        _source(tmp_path, flag="dermamnist", size=128)
    with pytest.raises(ValueError, match="unknown MedMNIST flag 'nomnist'"):
        MedmnistOptions(flag="nomnist")
    with pytest.raises(ValueError):
        MedmnistOptions(flag="pathmnist", size=32)


def test_chestmnist_is_multilabel_with_its_fourteen_findings(tmp_path):
    path = write_fake_file(tmp_path, "chestmnist", 28)
    source = _source(tmp_path, flag="chestmnist")
    arrays = _arrays(path)
    assert source.multilabel and source.classes == mm.labels("chestmnist")
    assert source.targets.shape == (sum(SMALL.values()), 14)
    np.testing.assert_array_equal(source.targets[: SMALL["train"]], arrays["train_labels"])
    first = [c for c, t in zip(source.classes, arrays["train_labels"][0], strict=True) if t]
    assert source.records.at[0, "label"] == "|".join(first)
    assert source.read(0)[0].shape == (28, 28)


def test_grey_made_rgb_on_request(tmp_path):
    write_fake_file(tmp_path, "pneumoniamnist", 28)
    grey = _source(tmp_path, flag="pneumoniamnist").read(3)[0]
    rgb = _source(tmp_path, flag="pneumoniamnist", rgb=True)
    image = rgb.read(3)[0]
    assert grey.shape == (28, 28) and image.shape == (28, 28, 3)
    assert all((image[..., c] == grey).all() for c in range(3))
    assert rgb.fingerprint != _source(tmp_path, flag="pneumoniamnist").fingerprint
    colour = write_fake_file(tmp_path, "bloodmnist", 28)
    assert colour.is_file() and _source(tmp_path, flag="bloodmnist", rgb=True).read(0)[0].shape == (
        28, 28, 3)  # fmt: skip


def _rewrite(path, change):
    arrays = _arrays(path)
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(train_images=a["train_images"][:-2]),
         r"train_images is uint8 \(28, 28, 28\), expected uint8 \(30, 28, 28\)"),
        (lambda a: a.update(val_labels=np.zeros((12, 3), np.uint8)),
         r"val_labels is \(12, 3\), expected \(12, 1\)"),
        (lambda a: a.update(test_images=np.zeros((12, 64, 64), np.uint8)),
         r"test_images is uint8 \(12, 64, 64\), expected uint8 \(12, 28, 28\)"),
        (lambda a: a.pop("val_images"), r"lacks \['val_images'\]"),
        (lambda a: a.update(train_labels=np.full((30, 1), 7, np.uint8)),
         r"train_labels holds values from 7 to 7, expected 0 to 1"),
    ],
    ids=["split-size", "label-shape", "image-size", "missing-key", "label-range"],
)  # fmt: skip
def test_a_foreign_file_is_refused_in_one_line_naming_it(tmp_path, change, message):
    path = write_fake_file(tmp_path, "pneumoniamnist", 28)
    _rewrite(path, change)
    with pytest.raises(DataError, match=message) as caught:
        _source(tmp_path, flag="pneumoniamnist")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_truncated_file_is_refused(tmp_path):
    path = write_fake_file(tmp_path, "pneumoniamnist", 28)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"pneumoniamnist\.npz is not a complete \.npz file"):
        _source(tmp_path, flag="pneumoniamnist")


def test_arrays_are_unpacked_once_memory_mapped_and_reused(tmp_path):
    path = write_fake_file(tmp_path, "pathmnist", 28, compress=True)
    cache = tmp_path / "cache"
    first = npz.unpacked(path, ["train_images"], cache=cache)["train_images"]
    assert isinstance(first, np.memmap) and not first.flags.writeable
    np.testing.assert_array_equal(first, _arrays(path)["train_images"])
    (unpacked,) = (cache / "npz").glob("*/train_images.npy")
    stamp = unpacked.stat().st_mtime_ns
    again = npz.unpacked(path, ["train_images"], cache=cache)["train_images"]
    assert unpacked.stat().st_mtime_ns == stamp and np.array_equal(again, first)
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # the file replaced: unpacked anew
    npz.unpacked(path, ["train_images"], cache=cache)
    assert len(list((cache / "npz").glob("*/train_images.npy"))) == 2
    assert not list((cache / "npz").rglob("*.tmp"))


def test_the_images_are_unpacked_when_first_read_not_when_the_source_is_made(tmp_path, monkeypatch):
    """A dry run, a preflight and ``data inspect`` read labels and headers only."""
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    write_fake_file(tmp_path, "breastmnist", 28)
    source = _source(tmp_path, flag="breastmnist")
    assert len(source) > 0 and not list(tmp_path.glob("cache/npz/*/*.npy"))
    source.read(0)
    assert len(list(tmp_path.glob("cache/npz/*/*_images.npy"))) == 3


def test_two_at_once_unpack_one_file(tmp_path, monkeypatch):
    path = write_fake_file(tmp_path, "pathmnist", 28)
    cache, got, errors = tmp_path / "cache", [], []
    calls = []
    unpack = npz._unpack
    monkeypatch.setattr(npz, "_unpack", lambda *a: (calls.append(a), unpack(*a)))

    def load():
        try:
            got.append(npz.unpacked(path, ["test_images"], cache=cache)["test_images"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 4 and all(np.array_equal(g, got[0]) for g in got)
    assert len(list((cache / "npz").glob("*/test_images.npy"))) == 1
    assert len(calls) == 1  # the others waited for it, then mapped its file


def test_a_damaged_array_is_refused_and_leaves_nothing(tmp_path):
    path = write_fake_file(tmp_path, "pathmnist", 28, compress=True)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("train_images.npy")
    data = bytearray(path.read_bytes())
    middle = info.header_offset + 100 + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="train_images is damaged"):
        npz.unpacked(path, ["train_images"], cache=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.npy")) and not list(
        (tmp_path / "cache").rglob("*.tmp"))  # fmt: skip


def _dataset(root, flag, **extra):
    return DatasetConfig.model_validate(
        {"layout": "medmnist", "root": str(root), "options": {"flag": flag}, **extra},
        context={"names": NAMES},
    )


@pytest.mark.parametrize(
    ("flag", "task"),
    [
        ("pathmnist", {"kind": "multiclass"}),
        ("chestmnist", {"kind": "multilabel"}),
        ("pneumoniamnist", {"kind": "binary", "positive": "pneumonia"}),
        ("breastmnist", {"kind": "binary", "positive": "normal benign"}),
        ("retinamnist", {"kind": "ordinal", "order": ["0", "1", "2", "3", "4"]}),
    ],
)
def test_a_suite_dataset_gets_its_task_from_info(tmp_path, flag, task):
    config = _dataset(tmp_path, flag)
    assert config.task.kind == task["kind"]
    assert {k: v for k, v in config.task.options.items() if k in task} == {
        k: v for k, v in task.items() if k != "kind"}  # fmt: skip
    stated = _dataset(tmp_path, flag, task="multiclass")
    assert stated.task.kind == "multiclass"  # a stated task is kept


def test_load_images_maps_a_large_set_from_the_cache_once(tmp_path, monkeypatch):
    from benchmark.data import images as images_module

    write_fake_file(tmp_path, "pathmnist", 28)
    source = _source(tmp_path, flag="pathmnist")
    plain = load_images(source, ops=[], size=32, workers=1)
    cache = ImageCache(tmp_path / "cache")
    monkeypatch.setattr(images_module, "MAP_OVER", 0)
    mapped = load_images(source, ops=[], size=32, cache=cache, workers=1)
    assert mapped.images.shape == (len(source), 3, 32, 32)
    assert (mapped.images == plain.images).all() and (mapped.labels == plain.labels).all()
    (made,) = (tmp_path / "cache" / "sets").rglob("*.npy")
    stamp = made.stat().st_mtime_ns

    def fail(i):
        raise AssertionError(f"image {i} read again")

    again = load_images(replace(source, render=fail), ops=[], size=32, cache=cache, workers=1)
    assert made.stat().st_mtime_ns == stamp and (again.images == plain.images).all()
    assert cache.usage()[0] >= 1


def test_inspect_lists_every_medmnist_file(tmp_path):
    from benchmark.cli import app

    write_fake_file(tmp_path, "pathmnist", 28)
    write_fake_file(tmp_path / "more", "chestmnist", 64)
    broken = write_fake_file(tmp_path, "breastmnist", 128)
    broken.write_bytes(broken.read_bytes()[:100])
    (tmp_path / "notes.npz").write_bytes(b"")
    result = CliRunner().invoke(app, ["data", "inspect", str(tmp_path), "--layout", "medmnist",
                                      "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    files = {f["file"]: f for f in json.loads(result.output)["files"]}
    assert list(files) == ["pathmnist.npz", "more/chestmnist_64.npz", "breastmnist_128.npz"]
    path = files["pathmnist.npz"]
    assert (path["flag"], path["size"], path["task"]) == ("pathmnist", 28, "multiclass")
    assert path["images"] == SMALL and sum(path["splits"]["train"].values()) == SMALL["train"]
    assert list(path["splits"]["val"]) == mm.labels("pathmnist")
    chest = files["more/chestmnist_64.npz"]
    assert chest["task"] == "multilabel" and len(chest["splits"]["test"]) == 14
    assert "not a complete .npz" in files["breastmnist_128.npz"]["problem"]
    table = CliRunner().invoke(app, ["data", "inspect", str(tmp_path), "--layout", "medmnist"])
    assert table.exit_code == 0 and "chestmnist" in table.output
