"""What every corruption shares: the registry (``register_corruption``, ``get_corruption``,
``list_corruptions``), :func:`corrupt` and the :class:`Corruption` a ``Batches`` applies.

A corruption is a function ``(x, setting, generator) -> x`` on a float N × C × H × W batch
(values 0–255, on any device), registered with its five severity settings. Nothing here
imports torch at import time: ``medbench suite validate`` and ``medbench list corruptions``
read the registry.

Randomness: the caller's CPU ``torch.Generator`` seeds everything. Per-image settings (a
motion blur's angle) are drawn from it on the CPU and moved; per-pixel noise is drawn on the
batch's own device from a generator seeded by one draw of the caller's (copying noise over
the bus would cost more than the model). The same seed therefore gives the same corrupted
batch on the same device; a CPU and a GPU draw different noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.errors import MedbenchError
from benchmark.registry import Registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "SEVERITIES",
    "Corruption",
    "CorruptionKind",
    "corrupt",
    "get_corruption",
    "list_corruptions",
    "register_corruption",
]

SEVERITIES = (1, 2, 3, 4, 5)

Apply = Callable[["torch.Tensor", Any, "torch.Generator"], "torch.Tensor"]


@dataclass(frozen=True)
class CorruptionKind:
    """A registered corruption: its ``name``, ``family`` (noise, blur, intensity, digital),
    a one-line ``description``, its ``settings`` at severities 1 to 5 (MedMNIST-C's) and
    ``apply(x, setting, generator)`` on a float batch, which may change ``x`` in place
    (:func:`corrupt` hands it a copy) and return values outside 0–255 (:func:`corrupt`
    clips them)."""

    name: str
    family: str
    description: str
    settings: tuple[Any, ...]
    apply: Apply

    def setting(self, severity: int) -> Any:
        """The setting of ``severity`` (1 to 5)."""
        return self.settings[_check_severity(severity, self.name) - 1]


_CORRUPTIONS: Registry[CorruptionKind] = Registry("corruption")


def register_corruption(
    name: str, *, family: str, settings: Sequence[Any], description: str
) -> Callable[[Apply], Apply]:
    """Decorator: register ``apply(x, setting, generator)`` as corruption ``name`` with its
    five severity ``settings``."""
    if len(settings) != len(SEVERITIES):
        raise ValueError(f"corruption '{name}' needs {len(SEVERITIES)} severity settings")

    def decorator(apply: Apply) -> Apply:
        kind = CorruptionKind(name, family, description, tuple(settings), apply)
        _CORRUPTIONS.register(name)(kind)
        return apply

    return decorator


def get_corruption(name: str) -> CorruptionKind:
    """The corruption registered as ``name`` (an ``UnknownNameError`` otherwise)."""
    return _CORRUPTIONS.get(name)


def list_corruptions() -> list[CorruptionKind]:
    """Every corruption, by family then name."""
    return sorted((c for _, c in _CORRUPTIONS.items()), key=lambda c: (c.family, c.name))


def corrupt(
    batch: torch.Tensor, kind: str, severity: int, generator: torch.Generator
) -> torch.Tensor:
    """``batch`` (uint8 or float N × C × H × W, values 0–255, any device) corrupted by
    ``kind`` at ``severity`` (1 to 5): the same shape, dtype and device, within 0–255; the
    input is never changed. Deterministic given ``generator`` (a CPU generator) and device."""
    import torch

    found = get_corruption(kind)
    setting = found.setting(severity)
    if batch.dim() != 4 or batch.shape[1] not in (1, 3):
        raise MedbenchError(
            f"corruption '{kind}' takes N × C × H × W batches of 1 or 3 channels, but got "
            f"shape {tuple(batch.shape)}."
        )
    x = batch.float()
    if x is batch:  # a float batch: work on a copy the corruption may change in place
        x = batch.clone()
    out = found.apply(x, setting, generator).clamp_(0, 255)
    if batch.dtype == torch.uint8:
        return out.round_().to(torch.uint8)
    return out.to(batch.dtype)


@dataclass(frozen=True)
class Corruption:
    """``Corruption(kind, severity)(x, generator)``: :func:`corrupt` as a ``Batches``
    augmentation (``Batches(augment=Corruption("gaussian_noise", 3))``)."""

    kind: str
    severity: int

    def __post_init__(self) -> None:
        get_corruption(self.kind)
        _check_severity(self.severity, self.kind)

    def __call__(self, x: torch.Tensor, generator: torch.Generator, /) -> torch.Tensor:
        return corrupt(x, self.kind, self.severity, generator)


def _check_severity(severity: int, kind: str) -> int:
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise MedbenchError(
            f"corruption '{kind}' has no severity {severity!r}: expected one of {list(SEVERITIES)}."
        )
    return severity
