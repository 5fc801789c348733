"""Perturbation methods (LIME, occlusion, integrated gradients): the registry, every
method on a CNN and a ViT, LIME finding the lesion that decides the class, its two pictures
agreeing, and a cell's explanations within the budget."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from benchmark.explain import (
    baseline_maps,
    explain_cell,
    explain_maps,
    lime_panels,
    list_methods,
    localisation,
)
from benchmark.explain.methods.cams import CamMethod
from benchmark.models import create_model
from benchmark.suite import ExplainConfig

PERTURBATION = [m.name for m in list_methods() if m.kind == "perturbation"]
SMALL = {
    "lime": {"samples": 32, "superpixels": 16},
    "occlusion": {"patch": 0.25, "stride": 0.25},
    "integrated_gradients": {"steps": 4},
}


def test_the_registry_names_every_implementation_once():
    import pytorch_grad_cam

    cams = [m for m in list_methods() if m.kind == "cam"]
    assert all(isinstance(m, CamMethod) and hasattr(pytorch_grad_cam, m.cam_class) for m in cams)
    assert len({m.cam_class for m in cams}) == len(cams) == 8
    assert set(PERTURBATION) == {"lime", "occlusion", "integrated_gradients"}
    assert {m.name for m in list_methods() if m.slow} == {
        "scorecam", "ablationcam", "lime", "occlusion"
    }  # fmt: skip


# every method on both models; the other baselines (model-independent) on the CNN only
CASES = [(m, "test_resnet", b) for m in PERTURBATION for b in ("mean", "black", "blur")]
CASES += [(m, "test_vit", "mean") for m in PERTURBATION]


@pytest.mark.parametrize(("method", "backbone", "baseline"), CASES)
def test_every_method_runs_on_a_cnn_and_a_vit(method, backbone, baseline):
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=3, image_size=32)
    settings = ExplainConfig(**{k: {**v, "baseline": baseline} for k, v in SMALL.items()})
    x = torch.rand(2, 3, 32, 32)
    found = explain_maps(
        model,
        x,
        targets=[0, 2],
        method=method,
        settings=settings,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
    )
    assert found.maps.shape == found.signed.shape == (2, 32, 32)
    assert np.isfinite(found.signed).all() and found.maps.min() >= 0 and found.maps.max() <= 1
    assert (found.segments is not None) == (method == "lime")
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


class LesionDetector(nn.Module):
    """A model whose class is decided by the lesion alone: class 1's logit grows with the
    brightest 5 × 5 neighbourhood, which only a lesion reaches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = nn.functional.avg_pool2d(x.mean(dim=1, keepdim=True), 5, stride=1, padding=2)
        peak = local.amax(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(peak), 25 * (peak - 0.75)], dim=1)


def _phantoms(count: int, *, size: int = 48, seed: int = 0):
    """Smooth textured backgrounds (brightness 0.2-0.6) with one bright disc each, at a
    random place and of a random radius; pixel values in [0, 1]."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(count):
        noise = cv2.resize(rng.random((6, 6)).astype(np.float32), (size, size))
        image = 0.2 + 0.4 * noise + 0.03 * rng.standard_normal((size, size)).astype(np.float32)
        radius = rng.uniform(4, 6)
        cy, cx = rng.uniform(radius + 2, size - radius - 2, 2)
        yy, xx = np.mgrid[:size, :size]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        image[mask] = 0.95
        images.append(np.repeat(np.clip(image, 0, 1)[None], 3, axis=0))
        masks.append(mask)
    return torch.from_numpy(np.stack(images)), np.stack(masks)


def test_lime_puts_its_top_superpixel_in_the_lesion_far_more_often_than_chance():
    """The lesion decides the class (checked below: hiding it flips the prediction), so the
    superpixel LIME weighs highest should lie in it: over 12 phantoms its pointing game
    must beat that of the random maps (whose peak lands in the lesion, within the usual
    tolerance, about as often as that covers of the image: about a tenth) by more than
    half, and its share of the map's energy in the lesion must be over twice theirs."""
    x, masks = _phantoms(12)
    model = LesionDetector()
    with torch.no_grad():
        hidden = torch.where(torch.from_numpy(masks)[:, None], 0.4, x)
        assert (model(x).argmax(1) == 1).all() and (model(hidden).argmax(1) == 0).all()
    settings = ExplainConfig(lime={"samples": 64, "superpixels": 30})
    found = explain_maps(model, x, targets=[1] * len(x), method="lime", settings=settings)
    lime = localisation(found.maps, masks)
    chance = localisation(baseline_maps("random", count=len(x), size=48, seed=0), masks)
    assert lime["pointing_game"] > chance["pointing_game"] + 0.5
    assert lime["energy_in_mask"] > 2 * chance["energy_in_mask"]
    for labels, weights, mask in zip(found.segments, found.weights, masks, strict=True):
        top = labels == np.argmax(weights)
        assert (top & mask).sum() > 0  # the top superpixel touches the lesion


def test_lime_positive_only_and_both_signs_agree():
    """The same seed draws the same samples: the weights are the same, the positive-only
    map is the both-signs map where it is positive, and the green superpixels of the
    signed picture are among those shown alone."""
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=3, image_size=48).eval()
    x, _ = _phantoms(2)
    runs = [
        explain_maps(
            model, x, targets=[1, 2], method="lime", seed=3,
            settings=ExplainConfig(lime={**SMALL["lime"], "positive_only": positive}),
        )
        for positive in (True, False)
    ]  # fmt: skip
    positive, both = runs
    np.testing.assert_array_equal(positive.signed, both.signed)
    for i in range(2):
        signed = positive.signed[i]
        up = signed > 0
        assert up.any() and (positive.maps[i][~up] == 0).all()
        ratio = both.maps[i][up] / positive.maps[i][up]  # one scale factor throughout
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
        assert np.allclose(both.maps[i], np.abs(signed) / np.abs(signed).max(), atol=1e-6)
        image = (x[i] * 255).to(torch.uint8).numpy()
        _, alone, _ = lime_panels(image, both.segments[i], weights=both.weights[i], top=3)
        w = both.weights[i]
        green = [f for f in np.argsort(-np.abs(w))[:3] if w[f] > 0]
        shown = {int(f) for f in np.unique(both.segments[i][alone.sum(axis=2) > 0])}
        assert set(green) <= shown


def test_a_cell_scores_and_shows_every_perturbation_method_within_the_budget():
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=2, image_size=32)
    x, masks = _phantoms(8, size=32)
    labels = np.arange(8) % 2
    config = ExplainConfig(
        methods=PERTURBATION, max_images=4, road_images=0, per_class=1, budget_s=1e-6, **SMALL
    )
    out = explain_cell(
        model,
        images=(x * 255).to(torch.uint8),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        labels=labels,
        probs=np.tile([[0.6, 0.4]], (8, 1)),
        masks=torch.from_numpy(masks),
        classes=["a", "b"],
        config=config,
        title="t",
    )
    for method in PERTURBATION:
        assert f"cams/{method}/gallery.png" in out.figures
        for score in ("pointing_game", "energy_in_mask", "iou", "drop", "seconds_per_image"):
            assert np.isfinite(out.metrics[f"cam/{method}/{score}"]), (method, score)
    assert out.metrics["cam/lime/images"] == 1 and out.metrics["cam/occlusion/images"] == 1
    assert out.metrics["cam/integrated_gradients/images"] == 4  # not slow: never cut
    assert [w.split(":")[0] for w in out.warnings] == ["lime", "occlusion"]
    assert "1 of 2 gallery examples shown" in out.warnings[0]
    title = out.figures["cams/lime/gallery.png"]._suptitle.get_text()
    assert "1 of 2 examples: explain.budget_s" in title


def test_the_cervical_suite_explains_with_the_papers_five_methods():
    from benchmark.suite import load_suite
    from tests.conftest import ROOT

    explain = load_suite(ROOT / "suites" / "cervical_sipakmed.yaml").explain
    assert explain.methods == ["gradcam", "gradcam++", "scorecam", "layercam", "lime"]
