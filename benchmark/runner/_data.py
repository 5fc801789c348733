"""The datasets of a suite run as one worker holds them: indexed by :mod:`benchmark.data`,
then decoded once per image size and placed on the worker's device."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from benchmark.data import (
    ImageCache,
    ImageSet,
    IndexedDataset,
    index_dataset,
    load_images,
    parse_op,
)
from benchmark.errors import DataError
from benchmark.runner._context import Reporter
from benchmark.suite import Cell
from benchmark.suite._schema import AuditConfig, DatasetConfig
from benchmark.tasks import Task, create_task


@dataclass(frozen=True)
class Dataset(IndexedDataset):
    """An indexed dataset, its task (its classes in the order the task gives them) and what
    one worker made of it: its images decoded per size (from ``cache``)."""

    task: Task = field(default_factory=create_task)
    cache: ImageCache | None = None
    images: dict[int, ImageSet] = field(default_factory=dict)  # by image size


def prepare_dataset(
    name: str,
    config: DatasetConfig,
    *,
    seed: int,
    policy: AuditConfig,
    reporter: Reporter,
    cache: ImageCache | None = None,
) -> Dataset:
    """Index dataset ``name`` (:func:`benchmark.data.index_dataset`), showing its progress
    and warnings through ``reporter``; its classes ordered as its task needs them (binary:
    the positive one last; ordinal: the grades in order)."""
    task = create_task(config.task.model_dump())
    indexed = index_dataset(
        name,
        config,
        seed=seed,
        policy=policy,
        cache=cache,
        progress=lambda done, total: reporter.loading(f"checking {name}", done=done, total=total),
        warn=reporter.warning,
    )
    where = f"datasets.{name}.task"
    source = indexed.source
    multilabel = source.multilabel
    if multilabel != task.multilabel:
        found = "several labels per image" if multilabel else "one class per image"
        raise DataError(
            f"{where}: '{task.name}' does not fit the dataset, whose layout gives {found}: "
            + ("set `task: multilabel`." if multilabel else
               "use `task: multiclass`, `binary` or `ordinal`, or a multi-label layout.")
        )  # fmt: skip
    ordered = replace(source, classes=task.classes(source.classes, where=where))
    indexed = replace(indexed, source=ordered)
    parts = {f.name: getattr(indexed, f.name) for f in fields(indexed)}
    return Dataset(**parts, task=task, cache=cache)


def images_for(cell: Cell, data: Dataset, *, reporter: Reporter) -> ImageSet:
    """``cell``'s dataset decoded at its image size, once per size (kept for later cells)."""
    size = cell.image_size
    if size not in data.images:
        data.images[size] = load_images(
            data.source,
            ops=[parse_op(op) for op in cell.data.preprocess],
            size=size,
            progress=lambda done, total: reporter.loading(
                f"decoding {cell.dataset}", done=done, total=total
            ),
            cache=data.cache,
            keys=data.keys,
        )
    return data.images[size]
