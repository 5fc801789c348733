"""Backbones from the Hugging Face Hub (``hf-hub:``) and from folders (``local-dir:``), offline:
a folder and a hub cache written here, the Hub's answers served from localhost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import torch

from benchmark.errors import ModelError
from benchmark.models import (
    check_backbone,
    create_model,
    input_config,
    input_stats,
    load_model,
    rebuild_config,
    save_model,
)
from tests.models._sources import (
    REVISION,
    cache_repo,
    offline_hub_cache,
    serve_hub,
    write_timm_folder,
)

MEAN, STD = [0.3, 0.2, 0.1], [0.25, 0.25, 0.25]


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    return offline_hub_cache(tmp_path, monkeypatch)


def test_hub_and_folder_names_are_checked_for_their_form_offline(tmp_path):
    check_backbone("hf-hub:MahmoodLab/UNI")
    check_backbone("hf-hub:timm/vit_small_patch14_dinov2.lvd142m@main")
    for bad in ("hf-hub:", "hf-hub:UNI", "hf-hub:a/b/c", "hf-hub:org/name@", "hf-hub:-a/b"):
        with pytest.raises(ModelError, match="expected 'hf-hub:ORG/NAME'"):
            check_backbone(bad)
    with pytest.raises(ModelError, match=r"unknown source 'hf_hub:'.*Did you mean 'hf-hub'"):
        check_backbone("hf_hub:org/name")
    with pytest.raises(ModelError, match="write 'hf-hub:MahmoodLab/UNI' for the Hub"):
        check_backbone("MahmoodLab/UNI")
    with pytest.raises(ModelError, match="no folder"):
        check_backbone(f"local-dir:{tmp_path / 'absent'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"config.json is missing or names no `architecture`"):
        check_backbone(f"local-dir:{tmp_path / 'empty'}")
    write_timm_folder(tmp_path / "model", weights=False)
    check_backbone(f"local-dir:{tmp_path / 'model'}")  # weights are looked for when built
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    (tmp_path / "model" / "config.json").write_text(json.dumps(config | {"architecture": "vit_x"}))
    with pytest.raises(ModelError, match="'vit_x' is not a timm model"):
        check_backbone(f"local-dir:{tmp_path / 'model'}")


def test_a_folder_of_timm_config_and_weights_is_built_with_its_weights_and_kwargs(tmp_path):
    source = write_timm_folder(tmp_path / "uni-like")
    name = f"local-dir:{tmp_path / 'uni-like'}"
    model = create_model(
        name, num_classes=3, pretrained=True, image_size=32, kwargs={"dynamic_img_size": True}
    )
    assert model.eval()(torch.randn(2, 3, 48, 48)).shape == (2, 3)  # dynamic: any size
    loaded, original = model.state_dict(), source.state_dict()
    assert torch.equal(loaded["blocks.0.ls1.gamma"], original["blocks.0.ls1.gamma"])  # init_values
    assert input_stats(model) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # the folder's config
    assert input_config(model)["interpolation"] == "bicubic"
    assert rebuild_config(model, name)["architecture"] == "test_vit"
    assert rebuild_config(model, name)["model_args"]["init_values"] == 1e-5
    (tmp_path / "uni-like" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"the folder holds no weights.*pretrained: false"):
        create_model(name, num_classes=3, pretrained=True)
    assert create_model(name, num_classes=3, pretrained=False).get_classifier().out_features == 3


def test_a_hub_model_loads_from_the_local_cache_offline(hub_cache):
    source = cache_repo(hub_cache, "acme/tiny-vit")
    for name in ("hf-hub:acme/tiny-vit", f"hf-hub:acme/tiny-vit@{REVISION}"):
        model = create_model(name, num_classes=2, pretrained=True, image_size=32)
        weight = model.state_dict()["patch_embed.proj.weight"]
        assert torch.equal(weight, source.state_dict()["patch_embed.proj.weight"])
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2)


def test_a_hub_model_neither_cached_nor_reachable_fails_at_once_in_one_line(hub_cache, monkeypatch):
    def no_backoff(seconds: float) -> None:
        raise AssertionError(f"huggingface_hub backs off for {seconds} s before retrying")

    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", no_backoff)
    cache_repo(hub_cache, "acme/tiny-vit")
    for name, pretrained in [
        ("hf-hub:acme/absent", False),  # its config.json is needed to build it at all
        ("hf-hub:acme/tiny-vit@v2", True),  # a revision not in the cache
    ]:
        with pytest.raises(ModelError) as info:
            create_model(name, num_classes=2, pretrained=pretrained)
        message = str(info.value)
        assert "\n" not in message and f"backbone '{name}'" in message
        assert "HF_HUB_OFFLINE is set" in message and "local-dir:" in message


class _Hub(BaseHTTPRequestHandler):
    """The Hub's answers to a metadata request: gated without (401) or with (403) a token,
    no such repository."""

    def do_HEAD(self) -> None:
        if "/gated/" in self.path:
            self.send_response(403 if self.headers.get("authorization") else 401)
            self.send_header("X-Error-Code", "GatedRepo")
        else:
            self.send_response(401)
            self.send_header("X-Error-Code", "RepoNotFound")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub_server(hub_cache, tmp_path, monkeypatch) -> Iterator[str]:
    yield from serve_hub(_Hub, tmp_path, monkeypatch)


def test_a_gated_hub_model_is_one_line_naming_hf_token(hub_server, monkeypatch):
    with pytest.raises(ModelError) as info:
        create_model("hf-hub:acme/gated", num_classes=2, pretrained=True)
    message = str(info.value)
    assert "\n" not in message and "backbone 'hf-hub:acme/gated' is a gated model" in message
    assert "set HF_TOKEN" in message and "https://huggingface.co/acme/gated" in message
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    with pytest.raises(ModelError, match=r"token set .* has no access to it: request access"):
        create_model("hf-hub:acme/gated", num_classes=2, pretrained=True)


def test_a_missing_hub_repository_is_one_line(hub_server):
    with pytest.raises(ModelError, match="the Hugging Face Hub has no repository 'acme/nope'"):
        create_model("hf-hub:acme/nope", num_classes=2)


def test_kwargs_timm_rejects_are_one_line_naming_the_backbone_and_the_key(tmp_path):
    write_timm_folder(tmp_path / "model")
    for name in ("test_resnet", f"local-dir:{tmp_path / 'model'}"):
        with pytest.raises(ModelError) as info:
            create_model(name, num_classes=2, kwargs={"init_valeus": 1e-5})
        message = str(info.value)
        assert "\n" not in message
        assert f"backbone '{name}' does not take `kwargs: {{init_valeus: ...}}`" in message


def test_normalize_replaces_the_pretrained_stats_and_the_saved_model_keeps_it(tmp_path):
    model = create_model("test_resnet", num_classes=2, normalize={"mean": MEAN, "std": STD})
    assert input_stats(model) == (tuple(MEAN), tuple(STD))
    save_model(
        model, tmp_path, config={"backbone": "test_resnet", "num_classes": 2, **input_config(model)}
    )
    again, config = load_model(tmp_path)
    assert input_stats(again) == (tuple(MEAN), tuple(STD)) and config["mean"] == MEAN


def test_a_saved_folder_or_hub_model_is_rebuilt_without_its_source(tmp_path, hub_cache):
    """config.json records timm's architecture and the source's model arguments, so a
    promoted model needs neither the Hub (nor a token) nor the folder to be served."""
    cache_repo(hub_cache, "acme/tiny-vit")
    name = "hf-hub:acme/tiny-vit"
    kwargs = {"dynamic_img_size": True}
    model = create_model(name, num_classes=2, pretrained=True, image_size=32, kwargs=kwargs).eval()
    config = {
        "backbone": name,
        "num_classes": 2,
        "image_size": 32,
        "kwargs": kwargs,
        **input_config(model),
        **rebuild_config(model, name),
    }
    save_model(model, tmp_path / "saved", config=config)
    for entry in hub_cache.iterdir():
        for path in sorted(entry.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    again, _ = load_model(tmp_path / "saved")
    x = torch.randn(1, 3, 48, 48)  # another size: rebuilt with dynamic_img_size
    assert torch.allclose(model(x), again(x))
