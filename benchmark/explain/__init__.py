"""Explanations of a trained model: class-activation maps (the only importer of
pytorch_grad_cam) and perturbation methods (the only importer of captum), their quality
scores and galleries. The methods, their kinds and costs: ``_methods.METHODS``.

Names load lazily: ``from benchmark.explain import check_method`` reads the table of
methods without importing torch, so checking a suite stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submod_attrs={
        "_cam": ["stage_layers", "target_layer"],
        "_cell": ["CellExplanation", "explain_cell"],
        "_gallery": [
            "cam_panels",
            "gallery_figure",
            "heatmap",
            "lime_panels",
            "overlay",
            "stages_figure",
        ],
        "_maps": ["Attribution", "cam_maps", "explain_maps"],
        "_methods": [
            "METHODS",
            "SLOW_METHODS",
            "Method",
            "check_method",
            "list_cams",
            "method_info",
        ],
        "_quality": ["baseline_maps", "faithfulness", "localisation"],
    },
)
