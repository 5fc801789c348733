"""A suite's names and plugin settings checked against the registries: the layer above the
suite's schema.

The schema (``benchmark.suite``) knows pydantic only; here its validators are given the
registries (layouts and their options, preprocessing ops, timm backbones, strategies and
explanation methods with their options models) through the validation context, so an
unknown name or setting fails with its field path like any other problem. Every registry
read here imports no torch: ``medbench suite validate`` stays as fast as ``--help``. The
documented schema (``medbench suite schema``) is composed here too, from the schema's
models and every plugin's options model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from benchmark.errors import ModelError, SuiteError
from benchmark.suite import Suite, format_validation_error, load_suite

__all__ = ["check_suite", "load_checked_suite", "suite_schema"]


class _Registries:
    """The registries' answers, as the schema's :class:`benchmark.suite.Names` asks them."""

    def layout(self, name: str):
        from benchmark.data import get_layout

        return get_layout(name)

    def op(self, spec: object) -> None:
        from benchmark.data import parse_op

        parse_op(spec)

    def backbone(self, name: str) -> None:
        from benchmark.models import check_backbone

        try:
            check_backbone(name)
        except ModelError as exc:
            raise ValueError(str(exc)) from None

    def strategies(self) -> dict[str, type[BaseModel]]:
        from benchmark.strategies import list_strategies

        return {strategy.name: strategy.Options for strategy in list_strategies()}

    def methods(self) -> dict[str, type[BaseModel] | None]:
        from benchmark.explain.methods import list_methods

        return {method.name: method.options for method in list_methods()}

    def tasks(self) -> dict[str, type[BaseModel]]:
        from benchmark.tasks import list_tasks

        return {task.name: task.Options for task in list_tasks()}

    def corruptions(self) -> dict[str, str]:
        from benchmark.data.corruptions import list_corruptions

        return {c.name: c.description for c in list_corruptions()}


NAMES = _Registries()


def check_suite(suite: Suite, *, source: str = "the suite") -> Suite:
    """``suite`` validated again with the registries: the same suite with its plugins'
    settings filled in, or a :class:`SuiteError` listing every problem by field."""
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


def suite_schema() -> dict[str, Any]:
    """The JSON schema of suite files with every plugin's settings: an entry of
    ``strategies`` is one of the strategies (its ``kind``, ``train`` and its own settings),
    ``explain`` has a section per method with settings, a dataset's ``options`` are one of
    the layouts'."""
    from pydantic.json_schema import models_json_schema

    from benchmark.data import list_layouts
    from benchmark.explain.methods import list_methods
    from benchmark.strategies import list_strategies
    from benchmark.suite import DatasetConfig, ExplainConfig, StrategyConfig, TaskConfig
    from benchmark.tasks import list_tasks

    strategies = list_strategies()
    tasks = list_tasks()
    methods = [(m, m.options) for m in list_methods() if m.options is not None]
    layouts = list_layouts()
    plugins: list[type[BaseModel]] = [s.Options for s in strategies]
    plugins += [options for _, options in methods]
    plugins += [layout.options for layout in layouts]
    plugins += [task.Options for task in tasks]
    models: list[type[BaseModel]] = [
        Suite, StrategyConfig, ExplainConfig, DatasetConfig, TaskConfig
    ]  # fmt: skip
    models += dict.fromkeys(plugins)
    refs, schema = models_json_schema([(model, "validation") for model in models])
    defs = schema["$defs"]

    def definition(model: type[BaseModel]) -> dict[str, Any]:
        return defs[refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1]]

    def ref(model: type[BaseModel], **extra: Any) -> dict[str, Any]:
        return {**refs[(model, "validation")], **extra}

    entry = definition(StrategyConfig)
    kind = entry["properties"]["kind"]
    entry["anyOf"] = []
    for strategy in strategies:
        options = definition(strategy.Options)
        variant = {
            "title": strategy.name,
            "description": strategy.description,
            "type": "object",
            "properties": {
                "kind": {"enum": [strategy.name, None], "description": kind["description"]},
                "train": entry["properties"]["train"],
                **options.get("properties", {}),
            },
            "additionalProperties": False,
        }
        entry["anyOf"].append(
            variant | ({"required": options["required"]} if "required" in options else {})
        )
    explain = definition(ExplainConfig)
    explain["properties"] |= {
        m.name: ref(options, description=f"{m.name}: {m.about}") for m, options in methods
    }
    explain["additionalProperties"] = False
    dataset = definition(DatasetConfig)
    dataset["properties"]["options"]["anyOf"] = [
        ref(layout.options, title=layout.name) for layout in layouts
    ]
    entry = definition(TaskConfig)
    kind = entry["properties"]["kind"]
    for key in ("type", "properties", "additionalProperties", "required"):
        entry.pop(key, None)  # a name, or one of the variants below
    entry["anyOf"] = [{"type": "string", "enum": [task.name for task in tasks]}]
    for task in tasks:
        options = definition(task.Options)
        variant = {
            "title": task.name,
            "description": task.description,
            "type": "object",
            "properties": {
                "kind": {"const": task.name, "description": kind["description"]},
                **options.get("properties", {}),
            },
            "required": ["kind", *options.get("required", [])],
            "additionalProperties": False,
        }
        entry["anyOf"].append(variant)
    top = definition(Suite)
    return {**top, "$defs": _reachable(top, defs)}


def _reachable(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The definitions ``schema`` refers to, directly or through others (those of the
    strategies' options models are written into their entries, so they are left out)."""
    found: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            target = node.get("$ref", "").rsplit("/", 1)[-1]
            if target and target not in found:
                found[target] = defs[target]
                pending.append(defs[target])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return dict(sorted(found.items()))
