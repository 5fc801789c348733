"""The contract every registered explanation method passes: maps of each image's size
within [0, 1], from a tiny model on a few images at small settings (so the slow methods
stay fast), hooks released, and a gallery example of the same size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import BaseModel

from benchmark.explain import explain_maps, get_method, list_methods
from benchmark.models import create_model
from benchmark.suite import ExplainConfig

METHODS = [m.name for m in list_methods()]
SMALL = ExplainConfig(  # the perturbation methods' defaults are sized for real images
    lime={"samples": 16, "superpixels": 16},
    occlusion={"patch": 0.25, "stride": 0.25},
    integrated_gradients={"steps": 4},
)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("test_resnet", num_classes=3, pretrained=False, image_size=32).eval()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_maps_each_image_at_its_size_within_0_and_1(method, model):
    images = torch.randint(0, 256, (3, 3, 32, 48), dtype=torch.uint8)
    x = (images.float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[
        :, None, None
    ]
    found = explain_maps(
        model, x, targets=[0, 1, 2], method=method, settings=SMALL, mean=MEAN, std=STD
    )
    assert found.maps.shape == (3, 32, 48) and found.maps.dtype == np.float32
    assert np.isfinite(found.maps).all() and found.maps.min() >= 0 and found.maps.max() <= 1
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    chosen = get_method(method)
    panels = chosen.panels(
        images[0].numpy(), found, index=0, options=chosen.settings(SMALL.method_options(method))
    )
    assert panels and all(panel.shape[:2] == (32, 48) for panel in panels)
    none = explain_maps(model, x[:0], targets=[], method=method, settings=SMALL, mean=MEAN, std=STD)
    assert none.maps.shape == (0, 32, 48)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_describes_itself_and_its_options(method):
    chosen = get_method(method)
    assert chosen.name == method and chosen.kind in ("cam", "perturbation") and chosen.about
    if chosen.options is not None:
        assert issubclass(chosen.options, BaseModel)
        assert chosen.options.model_config.get("extra") == "forbid"
        assert all(field.description for field in chosen.options.model_fields.values())
        assert isinstance(chosen.settings(), chosen.options)  # defaults for every setting
    else:
        assert chosen.settings() is None
