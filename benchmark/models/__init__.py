"""Backbones through timm: names (read without importing timm once listed), models with
their heads, freezing helpers, counts, weights on disk.

Names load lazily: ``from benchmark.models import check_backbone`` imports neither timm nor
torch, so a read-only command stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submod_attrs={
        "_names": ["CONFIG_FILE", "WEIGHTS_FILE", "check_backbone", "list_backbones"],
        "_build": [
            "ParamCounts",
            "count_parameters",
            "create_model",
            "features",
            "head_parameter_names",
            "input_stats",
            "load_model",
            "save_model",
        ],
    },
)
