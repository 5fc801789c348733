"""Image corruptions by registry name (MedMNIST-C's, on batches): one module per family
(noise, blur, intensity, digital) registers each name, its five severity settings and its
behaviour; :func:`corrupt` and :class:`Corruption` (a ``Batches`` augmentation) apply them.

Importing this package imports no torch (``medbench suite validate`` and ``medbench list
corruptions`` read the registry); each corruption imports it where it computes.
"""

from benchmark.data.corruptions import (  # noqa: F401  (each registers its corruptions)
    blur,
    digital,
    intensity,
    noise,
)
from benchmark.data.corruptions._base import (
    SEVERITIES,
    Corruption,
    CorruptionKind,
    corrupt,
    get_corruption,
    list_corruptions,
    register_corruption,
)

__all__ = [
    "SEVERITIES",
    "Corruption",
    "CorruptionKind",
    "corrupt",
    "get_corruption",
    "list_corruptions",
    "register_corruption",
]
