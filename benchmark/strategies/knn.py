"""``knn``: k nearest neighbours among the training split's frozen features: UNI's protocol
by default (centred by the training mean, L2-normalised, cosine, k = 20); MedMNIST+'s is
``{k: 11, metric: euclidean, centre: false, normalize: false}`` (scikit-learn's
``NearestNeighbors(n_neighbors=11)`` on the raw pooled features, a majority vote; per label,
the neighbours' fraction above 0.5, for a multi-label task)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmark.errors import MedbenchError
from benchmark.strategies._base import register_strategy
from benchmark.strategies._features import HeadFit

if TYPE_CHECKING:
    import torch

    from benchmark.data import FeatureSet
    from benchmark.models import ProbeHead

__all__ = ["Knn", "KnnOptions"]


class KnnOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(20, ge=1, description="neighbours that vote (below the training size)")
    metric: Literal["cosine", "euclidean"] = Field(
        "cosine", description="distance: 1 - cosine similarity, or Euclidean"
    )
    centre: bool = Field(True, description="subtract the training features' mean first")
    normalize: bool = Field(True, description="L2-normalise the (centred) features")
    weights: Literal["uniform", "distance"] = Field(
        "uniform", description="one vote per neighbour, or votes weighted by 1 / distance"
    )


@register_strategy("knn")
class Knn(HeadFit):
    """k nearest neighbours on frozen features; the probabilities are the vote fractions
    (per label for a multi-label task)."""

    Options = KnnOptions
    options: KnnOptions
    multilabel = True  # each label's vote among the neighbours

    def check_train_size(self, size: int) -> None:
        if not self.options.k < size:
            raise MedbenchError(
                f"knn: k = {self.options.k} must be below the training size {size}; choose "
                f"`k:` from 1 to {size - 1}, or train on more images (train.shots)."
            )

    def fit_head(self, train: FeatureSet, *, classes: Sequence[str], device: torch.device,
                 seed: int) -> ProbeHead:  # fmt: skip
        from benchmark.models import KnnHead

        o = self.options
        return KnnHead.fit(
            train.features.to(device), train.labels.to(device), num_classes=len(classes),
            k=o.k, metric=o.metric, centre=o.centre, normalize=o.normalize, weights=o.weights,
        )  # fmt: skip
