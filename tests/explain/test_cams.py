"""Class-activation maps: every seed family, frozen backbones, hooks, memory, quality scores
(the perturbation methods: tests/explain/test_perturb.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from benchmark.explain import (
    baseline_maps,
    cam_maps,
    explain_cell,
    explain_labels,
    faithfulness,
    list_methods,
    localisation,
    stage_layers,
    target_layer,
)
from benchmark.explain._maps import stage_maps
from benchmark.models import create_model
from benchmark.strategies import create_strategy
from benchmark.suite import ExplainConfig

# The seed suites' families (small inputs; inception needs 3 × 3 at its last stage) and a ViT.
FAMILIES = [
    ("resnet50", 64), ("vgg19", 64), ("inception_v3", 160), ("nasnetalarge", 96),
    ("mobilenetv2_100", 64), ("legacy_xception", 96), ("densenet169", 64),
    ("efficientnet_b0", 64), ("test_vit", 160),
]  # fmt: skip


def test_a_multilabel_model_gets_one_map_per_present_label_scored_on_its_own_lesions():
    """Each label is explained on the images where it is present, as a two-class output
    (the model's outputs restored after), scored against that label's own masks."""
    model = create_model("test_resnet", num_classes=3).eval()
    n, labels = 10, ["nodule", "mass", "hernia"]
    targets = np.zeros((n, 3), dtype=np.float32)
    targets[:6, 0], targets[4:, 1] = 1, 1  # hernia: never present
    targets[0, 1] = np.nan
    asked = []

    def label_masks(k: int, positions: np.ndarray) -> torch.Tensor:
        asked.append((k, positions.tolist()))
        masks = torch.zeros(len(positions), 32, 32, dtype=torch.bool)
        masks[:, :16, :16] = True
        return masks

    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    before = model(x.float())
    out = explain_labels(
        model, images=torch.randint(0, 255, (n, 1, 32, 32), dtype=torch.uint8),
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), targets=targets,
        probs=np.full((n, 3), 0.7), masks=None, labels=labels,
        config=ExplainConfig(methods=["gradcam"], per_class=1, road_images=0, max_images=4),
        title="t", thresholds=[0.5, 0.8, 0.5], label_masks=label_masks,
    )  # fmt: skip
    assert asked == [(0, [0, 1, 2, 3, 4, 5]), (1, [4, 5, 6, 7, 8, 9])]
    assert {"cams/nodule/gradcam/gallery.png", "cams/mass/gradcam/gallery.png"} <= set(out.figures)
    assert out.metrics["cam/gradcam/images"] == 8  # 4 per label explained, summed
    assert "cam/gradcam/pointing_game" in out.metrics  # scored: the masks were given
    assert any("hernia" in w for w in out.warnings)
    torch.testing.assert_close(model(x.float()), before)  # the hook is gone


@pytest.mark.slow
@pytest.mark.parametrize(("backbone", "size"), FAMILIES, ids=[f for f, _ in FAMILIES])
def test_every_family_resolves_a_layer_and_maps_frozen_backbones(backbone, size):
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=4)
    create_strategy("linear_probe").prepare(model)  # gradients must still flow
    assert sum(p.requires_grad for p in model.parameters()) == len(
        list(model.get_classifier().parameters())
    )
    maps = cam_maps(model, torch.randn(4, 3, size, size), targets=[0, 1, 2, 3])
    assert maps.shape == (4, size, size)
    assert np.isfinite(maps).all() and maps.min() >= 0
    # an untrained class map may be all zero (Grad-CAM's ReLU), not all four of them
    assert maps.reshape(4, -1).max(axis=1).max() > 0


# perturbation methods at small settings (their defaults are sized for real images)
SMALL = ExplainConfig(
    lime={"samples": 16, "superpixels": 16},
    occlusion={"patch": 0.25, "stride": 0.25},
    integrated_gradients={"steps": 4},
)


@pytest.mark.parametrize("method", [m.name for m in list_methods()])
def test_every_method_runs_and_releases_its_hooks(method):
    model = create_model("test_resnet", num_classes=4)
    maps = cam_maps(
        model, torch.randn(3, 3, 48, 48), targets=[0, 1, 2], method=method, settings=SMALL
    )
    assert maps.shape == (3, 48, 48) and np.isfinite(maps).all()
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


def test_layer_choice_and_stages():
    model = create_model("test_resnet", num_classes=4)
    assert target_layer(model, image_size=224)[0] == "layer4"  # 7 × 7, the usual choice
    assert target_layer(model, image_size=80)[0] == "layer2"  # layer4 would be 2 × 2
    assert target_layer(model, "layer3")[0] == "layer3"
    with pytest.raises(Exception, match="not a module"):
        target_layer(model, "layer9")
    assert [n for n, _ in stage_layers(model)] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert target_layer(create_model("vgg19", num_classes=2))[0] == "features.35"  # not the pool
    vit = create_model("vit_tiny_patch16_224", num_classes=2, image_size=96)  # 6 × 6 tokens
    assert target_layer(vit, image_size=96)[0] == "blocks.11.norm1"  # all alike: the last


def test_stage_maps_in_one_pass_are_the_maps_stage_by_stage():
    """The stages figure's maps, from one forward and backward pass, are Grad-CAM's at each
    stage (a CNN's stages, a ViT's blocks of tokens); a layer run twice per forward pass
    is explained layer by layer instead; no hook is left."""
    torch.manual_seed(0)
    for model, size in (
        (create_model("test_resnet", num_classes=3), 40),
        (create_model("test_vit", num_classes=3, image_size=32), 32),
    ):
        model.eval()
        x, targets = torch.randn(4, 3, size, size), [0, 1, 2, 1]
        names = [name for name, _ in stage_layers(model)]
        found = stage_maps(model, x, targets=targets, layers=names)
        expected = [cam_maps(model, x, targets=targets, layer=name) for name in names]
        assert found.shape == (len(names), 4, size, size)
        np.testing.assert_allclose(found, np.stack(expected), atol=1e-6)
        assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())

    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.head = torch.nn.Linear(3, 2)

        def get_classifier(self) -> torch.nn.Module:
            return self.head

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv(torch.relu(self.conv(x))))
            return self.head(x.mean(dim=(2, 3)))

    model, x = Twice().eval(), torch.randn(2, 3, 16, 16)
    found = stage_maps(model, x, targets=[0, 1], layers=["conv"])
    np.testing.assert_array_equal(found[0], cam_maps(model, x, targets=[0, 1], layer="conv"))


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_does_not_grow_over_hundreds_of_images():
    model = create_model("test_resnet", num_classes=4)
    x = torch.randn(50, 3, 64, 64)
    cam_maps(model, x, targets=[1] * 50)
    before = _rss_mb()
    for _ in range(8):  # 400 images
        cam_maps(model, x, targets=[1] * 50, batch_size=25)
    assert _rss_mb() - before < 40


def test_localisation_scores():
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 10:14, 20:24] = True
    perfect = masks.astype(np.float32)
    assert localisation(perfect, masks, top_percent=2) == {
        "pointing_game": 1.0, "energy_in_mask": 1.0, "iou": 16 / 21, "images": 2
    }  # fmt: skip
    away = np.zeros((2, 32, 32), np.float32)
    away[:, 28:, :4] = 1.0
    scores = localisation(away, masks)
    assert scores["pointing_game"] == 0.0 and scores["energy_in_mask"] == 0.0
    empty = localisation(perfect, np.zeros_like(masks))
    assert empty["images"] == 0 and np.isnan(empty["pointing_game"])


def test_baselines_and_faithfulness():
    random, center = (baseline_maps(k, count=3, size=20, seed=1) for k in ("random", "center"))
    assert random.shape == center.shape == (3, 20, 20)
    assert random.min() >= 0 and random.max() <= 1 and center[0, 10, 10] > center[0, 0, 0]
    assert not np.array_equal(random[0], random[1])
    model = create_model("test_resnet", num_classes=4).eval()
    scores = faithfulness(
        model, torch.randn(3, 3, 20, 20), maps=random, targets=[0, 1, 2], road_images=2
    )
    assert set(scores) == {"road", "drop"} and all(np.isfinite(list(scores.values())))


def test_slow_methods_are_budgeted_with_a_warning():
    model = create_model("test_resnet", num_classes=2)
    n = 12
    out = explain_cell(
        model,
        images=torch.randint(0, 255, (n, 1, 32, 32), dtype=torch.uint8),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        labels=np.arange(n) % 2,
        probs=np.tile([[0.6, 0.4]], (n, 1)),
        masks=None,
        classes=["a", "b"],
        config=ExplainConfig(methods=["scorecam"], budget_s=1e-6, road_images=0, per_class=1),
        title="t",
    )
    assert out.metrics["cam/scorecam/images"] == 1 and "budget" in out.warnings[0]
    assert "cams/scorecam/gallery.png" in out.figures and "cam/random/drop" in out.metrics


@pytest.mark.slow
def test_a_trained_model_points_at_the_lesions_better_than_chance(quickstart_store):
    """The quickstart's ResNet (trained once per session): over 4 seeds × 1 and 2 threads its
    accuracy was ≥ 0.915, its pointing game ≥ 0.45 against ≤ 0.04 for random maps, and its
    energy in the lesion ≥ 3.2× that of random maps."""
    from mlflow import MlflowClient

    from benchmark import track
    from tests.runner.test_run import _artifacts

    runs = track.connect(quickstart_store).cell_runs("quickstart")
    run = runs[runs["tags.medbench.backbone"] == "test_resnet"].iloc[0]
    m = {k.removeprefix("metrics."): v for k, v in run.items() if k.startswith("metrics.")}
    assert m["test/accuracy"] > 0.85
    assert m["cam/gradcam/pointing_game"] > m["cam/random/pointing_game"] + 0.3
    assert m["cam/gradcam/energy_in_mask"] > 1.5 * m["cam/random/energy_in_mask"]
    for name in ("road", "drop", "iou"):
        assert f"cam/gradcam/{name}" in m and f"cam/center/{name}" in m
    artifacts = _artifacts(MlflowClient(quickstart_store), run["run_id"])
    assert {"cams/gradcam/gallery.png", "cams/stages.png"} <= artifacts
    assert any(a.startswith("cams/gradcam/maps/") and a.endswith(".npy") for a in artifacts)
