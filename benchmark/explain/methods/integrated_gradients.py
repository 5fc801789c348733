"""``integrated_gradients``: the class probability's gradients along a straight path from a
baseline image (captum's ``IntegratedGradients``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from benchmark.explain.methods._base import Attribution, Method, register_method
from benchmark.explain.methods._perturb import Fill

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["IG_PERCENTILE", "IntegratedGradients", "IntegratedGradientsOptions"]

IG_PERCENTILE = 99.0  # the maps are scaled to this percentile, then clipped


class IntegratedGradientsOptions(BaseModel):
    """``explain.integrated_gradients``: gradients along a straight path."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(32, ge=2, description="points on the path from the baseline to the image")
    baseline: Fill = Field(
        "black", description="the path's start: the mean colour, black, or the image blurred"
    )


@dataclass(frozen=True)
class IntegratedGradients(Method):
    def maps(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        *,
        targets: list[int],
        options: IntegratedGradientsOptions,
        layer: str | None,
        mean: tuple[float, ...] | None,
        std: tuple[float, ...] | None,
        batch_size: int,
        seed: int,
    ) -> Attribution:
        import numpy as np
        import torch
        from captum.attr import IntegratedGradients as CaptumIG

        from benchmark.explain.methods._perturb import empty, probabilities, signed_maps, unit

        if (none := empty(inputs)) is not None:
            return none
        gradients = CaptumIG(probabilities(model))

        def attribute(x: torch.Tensor, base: torch.Tensor, chunk: list[int]) -> torch.Tensor:
            with torch.enable_grad():
                return gradients.attribute(
                    x,
                    baselines=base,
                    target=chunk,
                    n_steps=options.steps,
                    internal_batch_size=batch_size,
                )

        signed = signed_maps(
            inputs, targets, fill=options.baseline, mean=mean, std=std, batch_size=batch_size,
            attribute=attribute,
        )  # fmt: skip
        return Attribution(maps=unit(np.maximum(signed, 0), IG_PERCENTILE), signed=signed)


register_method(
    IntegratedGradients(
        "integrated_gradients",
        "perturbation",
        False,
        "gradients along the path from a baseline image",
        options=IntegratedGradientsOptions,
    )
)
