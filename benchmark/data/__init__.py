"""Datasets: layout adapters, synthetic phantoms, splits, preprocessing, batches."""

from benchmark.data.augment import create_augment
from benchmark.data.batches import Batches, normalize
from benchmark.data.images import ImageSet, load_images, prepare_image
from benchmark.data.layouts import (
    IMAGE_SUFFIXES,
    Layout,
    Source,
    create_source,
    get_layout,
    is_mask,
    list_layouts,
)
from benchmark.data.phantoms import CLASSES as PHANTOM_CLASSES
from benchmark.data.phantoms import Phantom, render_phantom
from benchmark.data.preprocess import Op, list_ops, parse_op
from benchmark.data.splits import SPLITS, assign_splits
from benchmark.data.synth import SYNTH_LAYOUTS, write_synthetic

__all__ = [
    "IMAGE_SUFFIXES",
    "PHANTOM_CLASSES",
    "SPLITS",
    "SYNTH_LAYOUTS",
    "Batches",
    "ImageSet",
    "Layout",
    "Op",
    "Phantom",
    "Source",
    "assign_splits",
    "create_augment",
    "create_source",
    "get_layout",
    "is_mask",
    "list_layouts",
    "list_ops",
    "load_images",
    "normalize",
    "parse_op",
    "prepare_image",
    "render_phantom",
    "write_synthetic",
]
