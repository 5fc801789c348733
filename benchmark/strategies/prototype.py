"""``prototype``: SimpleShot (Wang et al. 2019), the nearest class mean of centred,
L2-normalised frozen features, as UNI's and Patho-Bench's few-shot evaluations run it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from benchmark.strategies._base import register_strategy
from benchmark.strategies._features import HeadFit, require_every_class

if TYPE_CHECKING:
    import torch

    from benchmark.data import FeatureSet
    from benchmark.models import ProbeHead

__all__ = ["Prototype", "PrototypeOptions"]


class PrototypeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    centre: bool = Field(True, description="subtract the training features' mean first")
    normalize: bool = Field(True, description="L2-normalise the (centred) features")
    temperature: float = Field(
        0.1,
        gt=0,
        description="probabilities are softmax(-squared distance / temperature); the "
        "prediction (nearest class mean) does not depend on it",
    )


@register_strategy("prototype")
class Prototype(HeadFit):
    """SimpleShot: the nearest class mean of centred, L2-normalised features."""

    Options = PrototypeOptions
    options: PrototypeOptions

    def fit_head(self, train: FeatureSet, *, classes: Sequence[str], device: torch.device,
                 seed: int) -> ProbeHead:  # fmt: skip
        from benchmark.models import PrototypeHead

        require_every_class(train.labels, classes, strategy=self.name)
        o = self.options
        return PrototypeHead.fit(
            train.features.to(device), train.labels.to(device), num_classes=len(classes),
            centre=o.centre, normalize=o.normalize, temperature=o.temperature,
        )  # fmt: skip
