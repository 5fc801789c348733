"""Datasets: layout adapters (each with the writer of a fake tree), synthetic phantoms, safe
decoding, splits, preprocessing, the on-disk cache, the integrity audit, indexing a suite's
dataset (scan, split, audit), augmentation and batches.

Names load lazily (``from benchmark.data import get_layout`` imports no torch): checking a
suite's layouts and ops stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submod_attrs={
        "audit": ["AuditReport", "audit", "duplicate_pairs", "link_groups", "scan"],
        "augment": ["create_augment"],
        "batches": ["Batches", "normalize", "place_images"],
        "cache": ["ImageCache", "default_cache"],
        "dicom": ["DicomOptions", "Window"],
        "files": ["IMAGE_SUFFIXES", "BadImage", "is_image_file", "read_image", "walk_files"],
        "images": ["ImageSet", "load_images", "prepare_image"],
        "index": ["IndexedDataset", "index_dataset"],
        "layouts": [
            "SYNTH_LAYOUTS",
            "Layout",
            "Source",
            "create_source",
            "get_layout",
            "is_mask",
            "list_layouts",
            "write_synthetic",
        ],
        "phantoms": ["PHANTOM_CLASSES", "Phantom", "render_phantom"],
        "preprocess": ["Op", "list_ops", "parse_op"],
        "splits": ["SPLITS", "assign_splits"],
    },
)
