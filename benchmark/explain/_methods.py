"""Every explanation method by name, with its kind and cost: the one table the registry,
``medbench list cams``, the budget and the app read. Nothing heavy is imported here.

``cam`` methods weigh a layer's activations (pytorch_grad_cam); ``perturbation`` methods are
model-agnostic, computed on the input through captum. A ``slow`` method runs many forward
passes per image: it is budgeted by ``explain.budget_s`` and not offered by the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmark.registry import Registry

__all__ = ["METHODS", "SLOW_METHODS", "Method", "check_method", "list_cams", "method_info"]


@dataclass(frozen=True)
class Method:
    kind: Literal["cam", "perturbation"]
    slow: bool
    about: str


METHODS: dict[str, Method] = {
    "gradcam": Method("cam", False, "gradients of the class score, averaged per channel"),
    "gradcam++": Method("cam", False, "Grad-CAM with second-order channel weights"),
    "xgradcam": Method("cam", False, "Grad-CAM with activation-scaled gradients"),
    "hirescam": Method("cam", False, "gradients times activations, element-wise"),
    "layercam": Method("cam", False, "positive gradients times activations, per location"),
    "eigencam": Method("cam", False, "first principal component of the activations"),
    "scorecam": Method("cam", True, "one forward pass per channel"),
    "ablationcam": Method("cam", True, "one forward pass per channel"),
    "lime": Method("perturbation", True, "superpixels hidden at random, a linear model fitted"),
    "occlusion": Method("perturbation", True, "a patch slid over the image, one pass per place"),
    "integrated_gradients": Method(
        "perturbation", False, "gradients along the path from a baseline image"
    ),
}

SLOW_METHODS = frozenset(name for name, method in METHODS.items() if method.slow)

_REGISTRY: Registry[Method] = Registry("explanation method")
for _name, _method in METHODS.items():
    _REGISTRY.register(_name)(_method)


def list_cams() -> list[str]:
    """Every method name (CAMs and perturbation methods), sorted."""
    return _REGISTRY.names()


def check_method(name: str) -> None:
    """Raises :class:`~benchmark.registry.UnknownNameError` for a name not in the table."""
    _REGISTRY.get(name)


def method_info(name: str) -> Method:
    return _REGISTRY.get(name)
