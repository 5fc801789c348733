"""``occlusion``: a patch slid over the image, the drop in the class's probability per
place (captum's ``Occlusion``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmark.explain.methods._base import Attribution, Method, register_method
from benchmark.explain.methods._perturb import FILL, Fill

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Occlusion", "OcclusionOptions"]


class OcclusionOptions(BaseModel):
    """``explain.occlusion``: a patch slid over the image."""

    model_config = ConfigDict(extra="forbid")

    patch: float = Field(0.125, gt=0, le=1, description="patch side, a fraction of the image's")
    stride: float = Field(0.0625, gt=0, le=1, description="its step, a fraction of the side")
    baseline: Fill = Field("mean", description=FILL)

    @model_validator(mode="after")
    def _no_holes(self) -> OcclusionOptions:
        if self.stride > self.patch:
            raise ValueError(
                "`stride <= patch` must hold (a larger step leaves pixels no patch covers), "
                f"but got (stride={self.stride}, patch={self.patch})"
            )
        return self


@dataclass(frozen=True)
class Occlusion(Method):
    def maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        options: OcclusionOptions,
        layer: str | None,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        batch_size: int,
        seed: int,
    ) -> Attribution:
        import numpy as np
        import torch
        from captum.attr import Occlusion as CaptumOcclusion

        from benchmark.explain.methods._perturb import empty, probabilities, signed_maps, unit

        if (none := empty(inputs)) is not None:
            return none
        occlusion = CaptumOcclusion(probabilities(model))

        def attribute(x: torch.Tensor, base: torch.Tensor, chunk: list[int]) -> torch.Tensor:
            side = x.shape[-1]
            patch = max(1, round(options.patch * side))
            stride = max(1, round(options.stride * side))
            with torch.no_grad():
                return occlusion.attribute(
                    x,
                    sliding_window_shapes=(x.shape[1], patch, patch),
                    strides=(x.shape[1], stride, stride),
                    baselines=base,
                    target=chunk,
                    perturbations_per_eval=max(1, batch_size // len(x)),
                )

        signed = signed_maps(
            inputs, targets, fill=options.baseline, mean=mean, std=std, batch_size=batch_size,
            attribute=attribute,
        )  # fmt: skip
        return Attribution(maps=unit(np.maximum(signed, 0), 100.0), signed=signed)


register_method(
    Occlusion(
        "occlusion",
        "perturbation",
        True,
        "a patch slid over the image, one pass per place",
        options=OcclusionOptions,
        gradients=False,
    )
)
