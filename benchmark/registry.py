"""A tiny name → object registry, shared by layouts, preprocessing ops, strategies and
explanation methods."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from benchmark.errors import MedbenchError, SuiteError, suggest

T = TypeVar("T")
C = TypeVar("C", bound=type)

__all__ = ["Registry", "UnknownNameError", "plugin_options"]


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

    def register_class(self, name: str, *, description: str | None = None) -> Callable[[C], C]:
        """Class decorator: register the class as ``name``, and set its ``name`` and its
        ``description`` (given, or the first line of its docstring) on it."""

        def decorator(cls: C) -> C:
            setattr(cls, "name", name)  # noqa: B010 (any class: its attributes are its own)
            setattr(cls, "description",  # noqa: B010
                    description or (cls.__doc__ or "").strip().splitlines()[0])  # fmt: skip
            self.register(name)(cls)  # type: ignore[arg-type]  # a registry of classes
            return cls

        return decorator

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items


def plugin_options(
    what: str, model: type[BaseModel], options: Mapping[str, Any], *, hint: str = ""
) -> BaseModel:
    """A plugin's ``options`` (as a suite writes them) validated by its options ``model``;
    a bad setting is a :class:`SuiteError` naming it and ``what`` it configures."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or '(options)'}: {err['msg']}" for err in exc.errors()
        )
        raise SuiteError(
            f"invalid settings for {what}: {problems}. Its settings are "
            f"{sorted(model.model_fields)}{hint}."
        ) from None
