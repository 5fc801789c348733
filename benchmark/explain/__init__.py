"""Explanations of a trained model: the registered methods (``methods``: class-activation
maps through pytorch_grad_cam, perturbation methods through captum), their quality scores
and galleries, a cell's explanations, and a model's explanations of any images.

Names load lazily: ``from benchmark.explain import get_method`` reads the registry of
methods without importing torch, so checking a suite stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submod_attrs={
        "_cell": ["CellExplanation", "explain_cell"],
        "_gallery": [
            "cam_panels",
            "gallery_figure",
            "heatmap",
            "lime_panels",
            "overlay",
            "stages_figure",
        ],
        "_images": ["ImageExplanation", "explain_images"],
        "_layers": ["stage_layers", "target_layer"],
        "_maps": ["cam_maps", "explain_maps"],
        "_quality": ["baseline_maps", "faithfulness", "localisation"],
        "methods": ["Attribution", "Method", "get_method", "list_methods", "register_method"],
    },
)
