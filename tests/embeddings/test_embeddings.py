"""The embedding cache: features computed once per key and image, read back memory-mapped,
checked on read, and never in the way when the cache folder cannot be written."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import normalize
from benchmark.embeddings import (
    EmbeddingStore,
    _store,
    default_embedding_store,
    embed_images,
    embedding_key,
    weights_digest,
)
from benchmark.models import create_model, features, input_stats

CPU = torch.device("cpu")
N = 20


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("test_resnet", num_classes=3)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (N, 3, 32, 32), dtype=torch.uint8, generator=generator)


SHAS = [f"{i:064x}" for i in range(N)]


def _embed(model, images, shas=SHAS, *, store, **kwargs):
    mean, std = input_stats(model)
    return embed_images(
        model, images, shas, key="k", mean=mean, std=std, device=CPU, batch_size=8, store=store,
        **kwargs,
    )  # fmt: skip


def _bare(model, images) -> torch.Tensor:
    """What a loop written by hand gives: eval mode, normalised input, pre-logits."""
    mean, std = input_stats(model)
    model.eval()
    with torch.inference_mode():
        batches = [normalize(x, mean=mean, std=std) for x in images.split(8)]
        return torch.cat([features(model, x) for x in batches])


def _shards(store: EmbeddingStore, key: str = "k") -> list[Path]:
    return sorted(p for p in (store.root / key).glob("*.npy"))


def _mapped_file(address: int) -> str:
    """The file mapped at ``address`` in this process ("" for anonymous memory)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split()
        low, high = (int(end, 16) for end in span.split("-"))
        if low <= address < high:
            return rest[-1] if len(rest) == 5 else ""
    return ""


def _no_backbone(model, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the backbone ran")

    monkeypatch.setattr(model, "forward_features", refuse)


def test_the_key_changes_with_each_ingredient():
    base = dict(backbone="resnet10t", kwargs={}, weights="w" * 64, preprocess=[],
                image_size=112, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
    changed = [
        {"backbone": "resnet18"},
        {"kwargs": {"drop_path_rate": 0.1}},
        {"weights": "v" * 64},
        {"preprocess": [("minmax", {})]},
        {"image_size": 128},
        {"mean": (0.4, 0.5, 0.5)},
        {"std": (0.25, 0.25, 0.2)},
        {"dicom": {"window": "auto"}},
    ]
    keys = {embedding_key(**{**base, **change}) for change in changed}
    assert len(keys) == len(changed) and embedding_key(**base) not in keys
    assert embedding_key(**base) == embedding_key(**base)
    assert embedding_key(**base, dicom={}) == embedding_key(**base)  # the default reading


def test_the_weights_digest_sees_the_backbone_not_the_classifier(model):
    digest = weights_digest(model)
    torch.manual_seed(5)
    other_head = create_model("test_resnet", num_classes=7)
    other_head.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}, strict=False
    )
    assert weights_digest(other_head) == digest
    with torch.no_grad():
        other_head.bn1.running_mean += 1  # a buffer changes the features too
    assert weights_digest(other_head) != digest
    torch.manual_seed(6)
    assert weights_digest(create_model("test_resnet", num_classes=3)) != digest


def test_features_are_the_pre_logits_of_a_bare_loop(model, images):
    model.train()
    out = _embed(model, images, store=None)
    assert model.training  # its mode is given back
    assert out.features.dtype == torch.float32 and out.features.shape == (N, model.num_features)
    assert (out.computed, out.reused) == (N, 0)
    torch.testing.assert_close(out.features, _bare(model, images), rtol=1e-5, atol=1e-6)


def test_a_second_call_passes_nothing_through_the_backbone(model, images, tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path / "embeddings")
    first = _embed(model, images, store=store, about={"backbone": "test_resnet"})
    assert (first.computed, first.reused) == (N, 0)
    _no_backbone(model, monkeypatch)
    second = _embed(model, images, store=EmbeddingStore(tmp_path / "embeddings"))
    assert (second.computed, second.reused, second.key) == (0, N, "k")
    assert torch.equal(second.features, first.features)
    if sys.platform == "linux":  # handed over as the shard's memory map, not a copy
        assert _mapped_file(second.features.data_ptr()).endswith(".npy")
    [usage] = store.usage()
    assert (usage.key, usage.about, usage.images) == ("k", {"backbone": "test_resnet"}, N)


def test_only_the_missing_images_are_computed(model, images, tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path / "embeddings")
    whole = _bare(model, images)
    part = _embed(model, images[:12], SHAS[:12], store=store)
    assert (part.computed, part.reused) == (12, 0)

    order = [19, 3, 12, 0, 15, 3, *range(4, 12), 1, 2, 13, 14, 16, 17, 18]  # shuffled, 3 twice
    passes = []
    forward = model.forward_features
    monkeypatch.setattr(model, "forward_features", lambda x: passes.append(len(x)) or forward(x))
    out = _embed(model, images[order], [SHAS[i] for i in order], store=store)
    assert (out.computed, out.reused) == (8, 13) and sum(passes) == 8
    torch.testing.assert_close(out.features, whole[order], rtol=1e-5, atol=1e-6)

    _no_backbone(model, monkeypatch)
    again = _embed(model, images[order], [SHAS[i] for i in order], store=store)
    assert (again.computed, again.reused) == (0, len(order))
    assert torch.equal(again.features, out.features)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_shard_is_computed_again_never_trusted(model, images, tmp_path, damage):
    store = EmbeddingStore(tmp_path / "embeddings")
    good = _embed(model, images, store=store).features.clone()
    [shard] = _shards(store)
    data = bytearray(shard.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 40]
    else:
        data[-7] ^= 0xFF  # a value, not the header: the file still loads, with a wrong number
    shard.write_bytes(bytes(data))

    again = _embed(model, images, store=store)
    assert (again.computed, again.reused) == (N, 0)
    torch.testing.assert_close(again.features, good, rtol=0, atol=0)
    third = _embed(model, images, store=store)  # the shard was written again, whole
    assert (third.computed, third.reused) == (0, N) and torch.equal(third.features, good)
    assert len(_shards(store)) == 1


def test_a_record_that_names_no_file_or_a_foreign_one_is_ignored(model, images, tmp_path):
    store = EmbeddingStore(tmp_path / "embeddings")
    _embed(model, images, store=store)
    [record] = [p for p in (store.root / "k").glob("*.json") if p.name != "about.json"]
    record.write_text(record.read_text().replace('"file": "', '"file": "../'))
    assert _embed(model, images, store=store).computed == N
    record.write_text("{not json")
    assert _embed(model, images, store=store).computed == N
    with pytest.raises(ValueError, match="plain folder name"):
        store.lookup("../k", SHAS)


def test_a_cache_folder_that_cannot_be_made_costs_one_warning(model, images, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    store = EmbeddingStore(blocker / "embeddings")
    outs = [_embed(model, images, store=store) for _ in range(2)]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "embedding cache" in err
    assert [o.computed for o in outs] == [N, N]
    torch.testing.assert_close(outs[1].features, _bare(model, images), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_folder_costs_one_warning(model, images, tmp_path, capsys):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        outs = [_embed(model, images, store=EmbeddingStore(folder)) for _ in range(2)]
    finally:
        folder.chmod(0o755)
    assert capsys.readouterr().err.count("warning:") == 1
    torch.testing.assert_close(outs[1].features, _bare(model, images), rtol=1e-5, atol=1e-6)


def test_a_full_disk_during_a_write_costs_one_warning(model, images, tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_store.os, "replace", full)
    store = EmbeddingStore(tmp_path / "embeddings")
    outs = [_embed(model, images, store=store) for _ in range(2)]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and os.strerror(errno.ENOSPC) in err
    assert [o.computed for o in outs] == [N, N]
    torch.testing.assert_close(outs[1].features, _bare(model, images), rtol=1e-5, atol=1e-6)
    assert not [p for p in (store.root / "k").iterdir() if p.suffix in (".tmp", ".npy")]


def test_the_default_store_follows_the_cache_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    store = default_embedding_store()
    assert store is not None and store.root == tmp_path / "cache" / "embeddings"
    monkeypatch.setenv("MEDBENCH_CACHE", "off")
    assert default_embedding_store() is None
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MEDBENCH_CACHE", str(blocker / "cache"))
    assert default_embedding_store() is None and default_embedding_store() is None
    assert capsys.readouterr().err.count("warning:") == 1


def test_hashes_must_match_the_images(model, images):
    with pytest.raises(ValueError, match="one content hash per image"):
        _embed(model, images, SHAS[:3], store=None)


def test_a_shard_is_written_as_float32_with_its_checksum_beside_it(model, images, tmp_path):
    import hashlib
    import json

    store = EmbeddingStore(tmp_path / "embeddings")
    out = _embed(model, images, store=store)
    [shard] = _shards(store)
    record = json.loads(shard.with_name(shard.name.split("-")[0] + ".json").read_text())
    assert record["rows"] == SHAS and record["shape"] == [N, model.num_features]
    assert record["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest()
    assert np.array_equal(np.load(shard), out.features.numpy())
