"""Explanation methods by registry name: one module per method family registers each
name, its kind, whether it is slow, a one-line description, its options model (the
suite's ``explain.<name>`` section) and its behaviour (``maps``).

Importing this package imports no torch (``medbench suite validate`` and ``medbench list
cams`` read the registry); pytorch_grad_cam is imported by ``cams`` and captum by the
perturbation methods, each where it computes.
"""

from benchmark.explain.methods import (  # noqa: F401  (each registers its methods)
    cams,
    integrated_gradients,
    lime,
    occlusion,
)
from benchmark.explain.methods._base import (
    Attribution,
    Method,
    get_method,
    list_methods,
    register_method,
)

__all__ = ["Attribution", "Method", "get_method", "list_methods", "register_method"]
