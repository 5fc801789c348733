"""A timm model as the Hugging Face Hub holds one, written by tests: in a folder (for
``local-dir:`` names) or in a Hugging Face cache (for ``hf-hub:`` names, offline)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

REVISION = "0123456789abcdef0123456789abcdef01234567"


def write_timm_folder(folder: Path, *, weights: bool = True) -> torch.nn.Module:
    """A timm model as the Hub holds one: timm's config.json (architecture, model_args,
    pretrained_cfg, as UNI's) and its weights; returns the model the weights came from."""
    model = timm.create_model("test_vit", pretrained=False, init_values=1e-5)
    folder.mkdir(parents=True)
    config = {
        "architecture": "test_vit",
        "num_classes": 1000,
        "num_features": 64,
        "global_pool": "token",
        "model_args": {"init_values": 1e-5, "img_size": 160},
        "pretrained_cfg": {
            "tag": "in1k",
            "input_size": [3, 160, 160],
            "interpolation": "bicubic",
            "crop_pct": 0.95,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "num_classes": 1000,
            "first_conv": "patch_embed.proj",
            "classifier": "head",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    if weights:
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
    return model


def cache_repo(cache: Path, repo: str) -> torch.nn.Module:
    """``repo`` in the cache as huggingface_hub lays it out: the files of one commit under
    ``models--ORG--NAME/snapshots/<commit>/``, ``refs/main`` naming the commit."""
    entry = cache / ("models--" + repo.replace("/", "--"))
    model = write_timm_folder(entry / "snapshots" / REVISION)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(REVISION)
    return model


def cache_timm_weights(cache: Path, name: str) -> torch.nn.Module:
    """The pretrained weights timm reads for the timm model ``name`` (``test_resnet``, say),
    in the cache as huggingface_hub lays them out: its ``hf_hub_id`` repository's
    ``model.safetensors`` (a model built without weights: the values do not matter)."""
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    entry = cache / ("models--" + repo.replace("/", "--"))
    model = timm.create_model(name, pretrained=False)
    (entry / "snapshots" / REVISION).mkdir(parents=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(entry / "snapshots" / REVISION / "model.safetensors"))
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(REVISION)
    return model


def offline_hub_cache(tmp_path: Path, monkeypatch) -> Path:
    """An empty Hugging Face cache and torch hub folder, offline (as ``HF_HOME``,
    ``TORCH_HOME`` and ``HF_HUB_OFFLINE=1`` make them)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return cache


def serve_hub(handler: type[BaseHTTPRequestHandler], tmp_path: Path, monkeypatch) -> Iterator[str]:
    """A Hub on localhost answering as ``handler`` does, online, without any token: its URL,
    until the generator is closed."""
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    yield url
    server.shutdown()


def unreachable_hub(monkeypatch) -> None:
    """Online, but the Hub refuses every connection at once (the discard port); a retry of
    huggingface_hub's after a back-off fails the test."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub = "http://127.0.0.1:9"
    monkeypatch.setattr(constants, "ENDPOINT", hub)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub + "/{repo_id}/resolve/{revision}/{filename}"
    )

    def no_backoff(seconds: float) -> None:
        raise AssertionError(f"huggingface_hub backs off for {seconds} s before retrying")

    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", no_backoff)
