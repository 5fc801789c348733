"""A suite's names checked against the registries: the layer above the suite's schema.

The schema (``benchmark.suite``) knows pydantic only; here its validators are given the
registries (layouts and their options, preprocessing ops, timm backbones, strategies, CAM
methods) through the validation context, so an unknown name fails with its field path like
any other problem. Every registry read here imports no torch: ``medbench suite validate``
stays as fast as ``--help``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmark.errors import ModelError, SuiteError
from benchmark.suite import Suite, format_validation_error, load_suite

__all__ = ["check_suite", "load_checked_suite"]


class _Registries:
    """The registries' answers, as the schema's :class:`benchmark.suite.Names` asks them."""

    def layout(self, name: str):
        from benchmark.data import get_layout

        return get_layout(name)

    def op(self, spec: str | dict[str, Any]) -> None:
        from benchmark.data import parse_op

        parse_op(spec)

    def backbone(self, name: str) -> None:
        from benchmark.models import check_backbone

        try:
            check_backbone(name)
        except ModelError as exc:
            raise ValueError(str(exc)) from None

    def strategy(self, kind: str) -> None:
        from benchmark.strategies import get_strategy

        get_strategy(kind)

    def cam(self, name: str) -> None:
        from benchmark.explain import check_method

        check_method(name)


NAMES = _Registries()


def check_suite(suite: Suite, *, source: str = "the suite") -> Suite:
    """``suite`` validated again with the registries: the same suite with its layouts'
    options filled in, or a :class:`SuiteError` listing every unknown name by field."""
    try:
        return Suite.model_validate(suite.model_dump(exclude_unset=True), context={"names": NAMES})
    except ValidationError as exc:
        raise SuiteError(format_validation_error(exc, source=source)) from None


def load_checked_suite(
    path: str | Path,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Suite:
    """:func:`benchmark.suite.load_suite` with the registries: what commands call."""
    return load_suite(path, overrides=overrides, env=env, names=NAMES)
