"""The datasets of a suite run as one worker holds them: indexed by :mod:`benchmark.data`,
then decoded once per image size and placed on the worker's device."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from benchmark.data import (
    ImageCache,
    ImageSet,
    IndexedDataset,
    Op,
    bind_mean,
    index_dataset,
    load_images,
    parse_op,
)
from benchmark.runner._context import Reporter
from benchmark.suite import Cell
from benchmark.suite._schema import AuditConfig, DatasetConfig


@dataclass(frozen=True)
class Dataset(IndexedDataset):
    """An indexed dataset (its task too) and what one worker made of it: its images decoded
    per size (from ``cache``)."""

    cache: ImageCache | None = None
    images: dict[str, ImageSet] = field(default_factory=dict)  # by size and ops


def prepare_dataset(
    name: str,
    config: DatasetConfig,
    *,
    seed: int,
    policy: AuditConfig,
    reporter: Reporter,
    cache: ImageCache | None = None,
) -> Dataset:
    """Index dataset ``name`` (:func:`benchmark.data.index_dataset`: its task checked, its
    classes in the task's order), showing its progress and warnings through ``reporter``."""
    indexed = index_dataset(
        name,
        config,
        seed=seed,
        policy=policy,
        cache=cache,
        progress=lambda done, total: reporter.loading(f"checking {name}", done=done, total=total),
        warn=reporter.warning,
    )
    return Dataset(**{f.name: getattr(indexed, f.name) for f in fields(indexed)}, cache=cache)


def images_for(cell: Cell, data: Dataset, *, reporter: Reporter) -> ImageSet:
    """``cell``'s dataset decoded at its image size, once per size and preprocessing (kept
    for later cells)."""
    size = cell.image_size
    ops = cell_ops(cell)
    key = repr((size, ops))
    if key not in data.images:
        data.images[key] = load_images(
            data.source,
            ops=ops,
            size=size,
            progress=lambda done, total: reporter.loading(
                f"decoding {cell.dataset}", done=done, total=total
            ),
            cache=data.cache,
            keys=data.keys,
        )
    return data.images[key]


def cell_ops(cell: Cell) -> list[Op]:
    """The cell's preprocessing ops, a ``pad`` with the mean colour given its backbone's
    normalisation mean (so that its padding is zero once normalised)."""
    ops = [parse_op(op) for op in cell.data.preprocess]
    if any(name == "pad" and args.get("fill") == "mean" for name, args in ops):
        from benchmark.models import backbone_stats

        b = cell.backbone
        normalize = b.normalize.model_dump() if b.normalize is not None else None
        mean, _ = backbone_stats(b.name, kwargs=b.kwargs, normalize=normalize)
        ops = bind_mean(ops, mean)
    return ops
