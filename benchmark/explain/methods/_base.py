"""What every explanation method shares: the :class:`Method` base, the :class:`Attribution`
it returns, and the registry (``register_method``, ``get_method``, ``list_methods``).

Nothing here imports torch: the registry is read by ``medbench suite validate``, ``medbench
list cams`` and the app's menu, and a method imports its library where it computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ValidationError

from benchmark.errors import SuiteError
from benchmark.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

__all__ = [
    "Attribution",
    "Method",
    "get_method",
    "list_methods",
    "register_method",
]


@dataclass
class Attribution:
    """Maps of a batch: ``maps`` (N × H × W in [0, 1]) are what is scored and overlaid;
    perturbation methods add ``signed`` (N × H × W, per pixel, with their sign); LIME adds
    its ``segments`` (N × H × W superpixel labels) and ``weights`` (per image, one per
    superpixel)."""

    maps: np.ndarray
    signed: np.ndarray | None = None
    segments: np.ndarray | None = None
    weights: list[np.ndarray] | None = None


@dataclass(frozen=True)
class Method:
    """An explanation method: its ``name``, ``kind`` (``cam``: a layer's activations
    weighed; ``perturbation``: model-agnostic, on the input), whether it is ``slow`` (many
    forward passes per image: held to ``explain.budget_s``, not offered by the app), a
    one-line ``about``, its ``options`` model (the suite's ``explain.<name>`` section;
    ``None``: it has no settings), whether it needs the score's ``gradients`` (a head
    without them, such as kNN's votes, is explained by the others only) and its behaviour,
    :meth:`maps`."""

    name: str
    kind: Literal["cam", "perturbation"]
    slow: bool
    about: str
    options: type[BaseModel] | None = None
    gradients: bool = True

    headers: ClassVar[tuple[str, ...]] = ()  # titles of a gallery example's panels

    def settings(self, section: Mapping[str, Any] | None = None) -> BaseModel | None:
        """The method's options from its suite section (``None``: the defaults)."""
        if self.options is None:
            if section:
                raise SuiteError(f"explanation method '{self.name}' has no settings.")
            return None
        try:
            return self.options.model_validate(dict(section or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise SuiteError(f"invalid settings for explain.{self.name}: {problems}.") from None

    def maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        options: Any,
        layer: str | None,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        batch_size: int,
        seed: int,
    ) -> Attribution:
        """Maps of the ``targets`` classes for normalised ``inputs`` (on the model's device):
        ``options`` are :meth:`settings`' answer, ``layer`` the CAM layer (``None``: chosen
        by size), ``mean``/``std`` the normalisation (``None``: pixel values in [0, 1]),
        ``seed`` the draws of a sampling method."""
        raise NotImplementedError

    def panels(
        self, image: np.ndarray, found: Attribution, *, index: int, options: Any
    ) -> list[np.ndarray]:
        """A gallery example: the original, the heatmap and the overlay of map ``index``."""
        from benchmark.explain._gallery import cam_panels

        return cam_panels(image, found.maps[index])


_METHODS: Registry[Method] = Registry("explanation method")


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry under its name."""
    return _METHODS.register(method.name)(method)


def get_method(name: str) -> Method:
    """The method registered as ``name`` (an ``UnknownNameError`` otherwise)."""
    return _METHODS.get(name)


def list_methods() -> list[Method]:
    """Every method, the CAMs first, by name within each kind."""
    return sorted((m for _, m in _METHODS.items()), key=lambda m: (m.kind, m.name))
