"""A backbone's pretrained weights located in the caches timm reads, and fetched into them:
from a Hub served on localhost and from a URL, then read offline."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
import timm
import torch

from benchmark.errors import ModelError
from benchmark.models import create_model, fetch_weights, locate_weights
from tests.models._sources import (
    REVISION,
    cache_repo,
    cache_timm_weights,
    offline_hub_cache,
    serve_hub,
    unreachable_hub,
    write_timm_folder,
)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    return offline_hub_cache(tmp_path, monkeypatch)


def test_weights_in_the_cache_are_located_with_their_size(hub_cache, tmp_path):
    assert not locate_weights("test_resnet", pretrained=True).present
    cache_timm_weights(hub_cache, "test_resnet")
    found = locate_weights("test_resnet", pretrained=True)
    assert found.present and found.kind == "hub" and found.source == "timm/test_resnet.r160_in1k"
    assert found.paths[0].name == "model.safetensors" and found.size > 10_000
    assert found.size == found.paths[0].stat().st_size
    assert locate_weights("test_resnet", pretrained=False).kind == "none"

    cache_repo(hub_cache, "acme/tiny-vit")
    hub = locate_weights("hf-hub:acme/tiny-vit", pretrained=True)
    assert hub.present and [p.name for p in hub.paths] == ["config.json", "model.safetensors"]
    absent = locate_weights(f"hf-hub:acme/tiny-vit@{'f' * 40}", pretrained=True)
    assert absent.missing == ("config.json", "model.safetensors or pytorch_model.bin")

    write_timm_folder(tmp_path / "folder", weights=False)
    folder = locate_weights(f"local-dir:{tmp_path / 'folder'}", pretrained=True)
    assert folder.kind == "folder" and not folder.present and not folder.fetchable
    given = locate_weights("test_resnet", pretrained=True, weights=tmp_path / "absent.pth")
    assert given.kind == "file" and given.missing == (str(tmp_path / "absent.pth"),)


def test_weights_from_a_url_are_looked_for_in_torchs_hub_cache(hub_cache, tmp_path):
    found = locate_weights("legacy_xception", pretrained=True)
    assert found.kind == "url" and found.source.startswith("https://") and not found.present
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / Path(found.source).name).write_bytes(b"weights")
    again = locate_weights("legacy_xception", pretrained=True)
    assert again.present and again.size == len(b"weights")


def test_fetching_offline_is_refused_in_one_line(hub_cache):
    with pytest.raises(ModelError) as info:
        fetch_weights("test_resnet", pretrained=True)
    assert "\n" not in str(info.value) and "HF_HUB_OFFLINE is set" in str(info.value)
    assert fetch_weights("test_resnet", pretrained=False).kind == "none"  # nothing to fetch


class _Hub(BaseHTTPRequestHandler):
    """A Hub holding ``files`` (path -> bytes): the headers huggingface_hub reads
    (commit, ETag, size), EntryNotFound for any other file; plain files under ``/files/``."""

    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def _answer(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", REVISION)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub_server(hub_cache, tmp_path, monkeypatch) -> Iterator[str]:
    """The Hub on localhost, online, without a token, holding nothing yet."""
    _Hub.files, _Hub.requests = {}, []
    yield from serve_hub(_Hub, tmp_path, monkeypatch)


def test_fetched_hub_weights_are_what_timm_then_reads_offline(hub_server, tmp_path, monkeypatch):
    from huggingface_hub import constants

    source = timm.create_model("test_resnet", pretrained=False)
    repo = "timm/test_resnet.r160_in1k"
    # only the pickle: the safetensors file is asked for first, then pytorch_model.bin
    torch.save(source.state_dict(), tmp_path / "w.bin")
    _Hub.files = {f"/{repo}/resolve/main/pytorch_model.bin": (tmp_path / "w.bin").read_bytes()}
    fetched = fetch_weights("test_resnet", pretrained=True)
    assert fetched.present and fetched.paths[0].name == "pytorch_model.bin"
    assert any("model.safetensors" in r for r in _Hub.requests)  # timm's order of preference
    assert fetch_weights("test_resnet", pretrained=True) == fetched  # cached: no download
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = create_model("test_resnet", num_classes=3, pretrained=True)
    name = next(iter(source.state_dict()))  # the first convolution's
    assert torch.equal(model.state_dict()[name], source.state_dict()[name])


def test_an_unreachable_hub_is_refused_within_seconds(hub_server, monkeypatch):
    unreachable_hub(monkeypatch)
    with pytest.raises(ModelError, match=r"127\.0\.0\.1 cannot be reached"):
        fetch_weights("test_resnet", pretrained=True)


def test_a_repository_without_weights_is_one_line(hub_server):
    with pytest.raises(ModelError) as info:
        fetch_weights("test_resnet", pretrained=True)
    message = str(info.value)
    assert (
        "\n" not in message and "has none of ['model.safetensors', 'pytorch_model.bin']" in message
    )


def test_weights_at_a_url_are_fetched_into_torchs_hub_cache(hub_server, tmp_path, monkeypatch):
    url = f"{hub_server}/files/xception.pth"
    cfg = timm.models.get_pretrained_cfg("legacy_xception")
    monkeypatch.setattr(
        timm.models, "get_pretrained_cfg", lambda name: dataclasses.replace(cfg, url=url)
    )
    _Hub.files = {"/files/xception.pth": b"not really weights"}
    fetched = fetch_weights("legacy_xception", pretrained=True)
    assert fetched.kind == "url" and fetched.present
    assert fetched.paths[0] == tmp_path / "torch" / "hub" / "checkpoints" / "xception.pth"
    assert fetched.paths[0].read_bytes() == b"not really weights"
