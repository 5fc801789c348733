"""Datasets: layout adapters, synthetic phantoms, safe decoding, splits, preprocessing, the
on-disk cache, the integrity audit, augmentation and batches."""

from benchmark.data.audit import AuditReport, audit, duplicate_pairs, link_groups, scan
from benchmark.data.augment import create_augment
from benchmark.data.batches import Batches, normalize, place_images
from benchmark.data.cache import ImageCache, default_cache
from benchmark.data.dicom import DicomOptions, Window
from benchmark.data.files import IMAGE_SUFFIXES, BadImage, is_image_file, read_image, walk_files
from benchmark.data.images import ImageSet, load_images, prepare_image
from benchmark.data.layouts import (
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
    "AuditReport",
    "BadImage",
    "Batches",
    "DicomOptions",
    "ImageCache",
    "ImageSet",
    "Layout",
    "Op",
    "Phantom",
    "Source",
    "Window",
    "assign_splits",
    "audit",
    "create_augment",
    "create_source",
    "default_cache",
    "duplicate_pairs",
    "get_layout",
    "is_image_file",
    "is_mask",
    "link_groups",
    "list_layouts",
    "list_ops",
    "load_images",
    "normalize",
    "parse_op",
    "place_images",
    "prepare_image",
    "read_image",
    "render_phantom",
    "scan",
    "walk_files",
    "write_synthetic",
]
