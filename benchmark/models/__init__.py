"""Backbones through timm: names (read without importing timm once listed), models with
their heads, freezing helpers, counts, weights on disk.

Names load lazily: ``from benchmark.models import check_backbone`` imports neither timm nor
torch, so a read-only command stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)
