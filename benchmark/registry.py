"""A tiny name → object registry, shared by layouts, preprocessing ops, strategies and
explanation methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from benchmark.errors import MedbenchError, suggest

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError"]


class UnknownNameError(MedbenchError, ValueError):
    """A name that is not in a registry (a ValueError too, so pydantic reports its field)."""


class Registry(Generic[T]):
    """Maps names to implementations; ``register`` is a decorator, ``get`` a checked look-up."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = item
            return item

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}': expected one of {self.names()}."
                + suggest(name, self._items)
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items
