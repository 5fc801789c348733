"""Datasets: layout adapters (each with the writer of a fake tree), synthetic phantoms, safe
decoding, splits, preprocessing, the on-disk cache, the integrity audit, indexing a suite's
dataset (scan, split, audit), augmentation and batches.

Names load lazily (``from benchmark.data import get_layout`` imports no torch): checking a
suite's layouts and ops stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)
