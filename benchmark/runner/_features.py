"""A frozen cell's embeddings: computed once per key through the embedding cache
(:mod:`benchmark.embeddings`), held in memory for the cell's trials, seeds and episodes, and
counted on the cell's run (``embed/computed``, ``embed/reused``, ``time/embed_s``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.data import ImageSet
    from benchmark.runner._context import Context
    from benchmark.runner._data import Dataset
    from benchmark.suite import Cell


_DIGESTS: dict[str, str] = {}  # a pretrained backbone's settings → its weights' digest


def _digest(cell: Cell, model: nn.Module) -> str:
    """The digest of a pretrained backbone's weights, once per worker and backbone setting
    (hashing a ViT-L's weights takes seconds; trials, seeds and episodes rebuild it)."""
    from benchmark.embeddings import weights_digest

    built = cell.backbone.model_dump_json() + cell.head.model_dump_json()
    if built not in _DIGESTS:
        _DIGESTS[built] = weights_digest(model)
    return _DIGESTS[built]


@dataclass
class EmbedTally:
    """What one cell's embeddings cost: images through the backbone, rows read from the
    cache, seconds, and the keys they were stored under."""

    computed: int = 0
    reused: int = 0
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)
    held: dict[str, torch.Tensor] = field(default_factory=dict)  # key → features, this cell

    def clear(self) -> None:
        """Forget the cell's features and counts (the worker's next cell starts afresh)."""
        self.computed, self.reused, self.seconds = 0, 0, 0.0
        self.keys.clear()
        self.held.clear()

    def metrics(self) -> dict[str, float]:
        if not self.keys:
            return {}
        return {
            "embed/computed": self.computed,
            "embed/reused": self.reused,
            "time/embed_s": self.seconds,
        }


def cell_features(
    cell: Cell,
    model: nn.Module,
    *,
    images: ImageSet,
    data: Dataset,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    context: Context,
    pretrained: bool,
) -> torch.Tensor:
    """The pooled pre-logits features of every image of ``cell``'s dataset (row ``i`` for
    image ``i``, float32 on the host) as ``model`` (a frozen backbone) computes them: from
    this cell's earlier trials, else the cache, else the backbone (then cached).
    ``pretrained``: the backbone's weights are its pretrained ones, the same at every build
    (their digest is then computed once per worker; a random start is hashed each time)."""
    from benchmark.devices import autocast_dtype
    from benchmark.embeddings import (
        default_embedding_store,
        embed_images,
        embedding_key,
        weights_digest,
    )

    key = embedding_key(
        backbone=cell.backbone.name,
        kwargs=cell.backbone.kwargs,
        weights=_digest(cell, model) if pretrained else weights_digest(model),
        preprocess=cell.data.preprocess,
        image_size=cell.image_size,
        mean=mean,
        std=std,
        dicom=cell.data.options.get("dicom"),
        precision=str(autocast_dtype(context.device) or "float32").removeprefix("torch."),
    )
    tally = context.embeddings
    if key in tally.held:
        return tally.held[key]
    context.reporter.phase(f"embedding {cell.dataset} with {cell.backbone.name}", 0)
    result = embed_images(
        model,
        context.placement.images(images, context.device),
        data.keys,
        key=key,
        mean=mean,
        std=std,
        device=context.device,
        batch_size=cell.evaluate.batch_size,
        store=default_embedding_store(),
        about={
            "backbone": cell.backbone.name,
            "kwargs": dict(cell.backbone.kwargs),
            "image_size": cell.image_size,
            "preprocess": cell.data.preprocess,
            "dataset": cell.dataset,
        },
        progress=lambda done, total: context.reporter.batch_done(done, total),
    )
    tally.computed += result.computed
    tally.reused += result.reused
    tally.seconds += result.seconds
    tally.keys.append(result.key)
    tally.held[key] = result.features
    return result.features
