from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from benchmark.errors import ModelError
from benchmark.models import (
    check_backbone,
    count_parameters,
    create_model,
    head_parameter_names,
    input_stats,
    load_model,
    save_model,
)
from benchmark.strategies import freeze_backbone
from tests.models._sources import unreachable_hub


def test_create_model_head_dropout_and_counts():
    model = create_model("test_resnet", num_classes=4, dropout=0.3)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    assert model.drop_rate == 0.3
    counts = count_parameters(model)
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert counts.head == sum(p.numel() for p in model.get_classifier().parameters())
    assert counts.backbone + counts.head == counts.total == counts.trainable


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(ModelError, match="Did you mean 'resnet50'"):
        check_backbone("resnet-50")
    check_backbone("resnet50.a1_in1k")  # pretrained tags are accepted


def test_missing_pretrained_weights_fail_fast_with_instructions():
    with pytest.raises(ModelError) as info:
        create_model("resnet18", num_classes=2, pretrained=True)
    message = str(info.value)
    assert "pretrained: false" in message and "weights:" in message


def test_local_weights_file_is_loaded(tmp_path):
    source = timm.create_model("test_resnet", pretrained=False)
    path = tmp_path / "test_resnet.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = create_model("test_resnet", num_classes=3, weights=path)
    loaded = model.state_dict()
    assert torch.equal(loaded["conv1.0.weight"], source.state_dict()["conv1.0.weight"])
    assert loaded["fc.weight"].shape[0] == 3  # a fresh head for our classes
    with pytest.raises(ModelError, match="does not exist"):
        create_model("test_resnet", num_classes=3, weights=tmp_path / "nope.safetensors")


def test_save_and_load_round_trip_without_pickle(tmp_path):
    model = create_model("test_efficientnet", num_classes=4).eval()
    mean, _ = input_stats(model)
    save_model(
        model, tmp_path, config={"backbone": "test_efficientnet", "num_classes": 4, "mean": mean}
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    again, config = load_model(tmp_path)
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(model(x), again(x))
    assert config["mean"] == list(mean)


def test_mlp_head_like_the_lung_paper():
    model = create_model(
        "test_resnet", num_classes=3, dropout=0.2, head={"kind": "mlp", "hidden": [64, 16, 8]}
    )
    head = model.get_classifier()
    sizes = [m.out_features for m in head if isinstance(m, torch.nn.Linear)]
    assert sizes == [64, 16, 8, 3]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head) == 3
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    counts = count_parameters(model)
    assert counts.head == sum(p.numel() for p in head.parameters())


def test_vision_transformers_are_built_for_the_cell_size():
    model = create_model("vit_tiny_patch16_224", num_classes=3, image_size=96)
    assert model.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 3)
    cnn = create_model("test_resnet", num_classes=3, image_size=96)  # no patch grid: unchanged
    assert cnn(torch.randn(1, 3, 40, 40)).shape == (1, 3)
    # a patch embedding that takes any size keeps its grid (SAM's ViT: its checkpoint's)
    dynamic = create_model("vit_tiny_patch16_224", num_classes=3, image_size=96,
                           kwargs={"dynamic_img_size": True})  # fmt: skip
    assert tuple(dynamic.patch_embed.img_size) == (224, 224)
    assert dynamic.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 3)


def test_unreachable_hub_fails_within_seconds(monkeypatch):
    """Online but the Hub does not answer: one metadata request of huggingface_hub's, without
    the retries of its downloads (most of a minute), turns into the instructions."""
    unreachable_hub(monkeypatch)
    with pytest.raises(ModelError, match="cannot be reached") as info:
        create_model("resnet18", num_classes=2, pretrained=True)
    assert "127.0.0.1 cannot be reached" in str(info.value) and "weights:" in str(info.value)


def test_a_distilled_model_counts_and_trains_both_of_its_heads():
    """DeiT's get_classifier() gives two heads, (head, head_dist): both are the classifier."""
    model = create_model("deit_tiny_distilled_patch16_224", num_classes=3, image_size=32)
    heads = model.get_classifier()
    assert isinstance(heads, tuple) and len(heads) == 2
    head = {
        n for n, p in model.named_parameters() if any(p is q for m in heads for q in m.parameters())
    }
    assert head_parameter_names(model) == head
    assert count_parameters(model).head == sum(p.numel() for m in heads for p in m.parameters())
    freeze_backbone(model, 1.0)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == head
