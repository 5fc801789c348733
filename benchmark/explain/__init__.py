"""Explanations of a trained model: the registered methods (``methods``: class-activation
maps through pytorch_grad_cam, perturbation methods through captum), their quality scores
and galleries, a cell's explanations, and a model's explanations of any images.

Names load lazily: ``from benchmark.explain import get_method`` reads the registry of
methods without importing torch, so checking a suite stays fast.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)
