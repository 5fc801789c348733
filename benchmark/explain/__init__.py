"""Explanations of a trained model: class-activation maps (the only importer of
pytorch_grad_cam) and perturbation methods (the only importer of captum), their quality
scores and galleries. The methods, their kinds and costs: ``_methods.METHODS``."""

from __future__ import annotations

from benchmark.explain._cam import stage_layers, target_layer
from benchmark.explain._cell import CellExplanation, explain_cell
from benchmark.explain._gallery import (
    cam_panels,
    gallery_figure,
    heatmap,
    lime_panels,
    overlay,
    stages_figure,
)
from benchmark.explain._maps import Attribution, cam_maps, explain_maps
from benchmark.explain._methods import METHODS, SLOW_METHODS, Method, check_method, list_cams
from benchmark.explain._quality import baseline_maps, faithfulness, localisation

__all__ = [
    "METHODS",
    "SLOW_METHODS",
    "Attribution",
    "CellExplanation",
    "Method",
    "baseline_maps",
    "cam_maps",
    "cam_panels",
    "check_method",
    "explain_cell",
    "explain_maps",
    "faithfulness",
    "gallery_figure",
    "heatmap",
    "lime_panels",
    "list_cams",
    "localisation",
    "overlay",
    "stage_layers",
    "stages_figure",
    "target_layer",
]
