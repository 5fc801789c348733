"""The suite's parts that hold plugins' settings: a strategy's entry and the ``explain``
block, whose settings are validated by the options model the plugin's registry gives, with
each problem at its field path.

A suite writes a plugin's settings beside the suite's own (``strategies: {partial:
{freeze: 0.5}}``, ``explain: {lime: {samples: 128}}``); with the registries they are
checked by the plugin's pydantic model and returned with every default filled in; without
them, their structure only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchmark.errors import suggest
from benchmark.suite._schema import Problems, _names, problem


def unknown_setting(name: str, allowed: list[str], *, hint: str = "") -> str:
    """The message for a setting ``name`` where only ``allowed`` are known."""
    return f"unknown setting; expected one of {allowed}." + suggest(name, allowed) + hint


def check_options(
    model: type[BaseModel],
    values: Mapping[str, Any],
    *,
    loc: tuple[Any, ...],
    problems: Problems,
    unknown: Callable[[str], str],
) -> dict[str, Any]:
    """``values`` validated by ``model``: plain data with the defaults filled in. Each
    problem is added to ``problems`` under ``loc`` (``values`` are then returned as given);
    a setting the model does not have is described by ``unknown(name)``."""
    try:
        return model.model_validate(dict(values)).model_dump(mode="json")
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "extra_forbidden":
                message, kind = unknown(str(err["loc"][-1])), "unknown_setting"
            else:
                message, kind = err["msg"], err["type"]
            problems.append(problem((*loc, *err["loc"]), message, value=err["input"], kind=kind))
        return dict(values)


class StrategyConfig(BaseModel):
    """A strategy of the grid: its registry name, the training it changes, and its own
    settings beside them (``partial: {freeze: 0.5, bn_trainable: true}``), which the
    strategy's options model checks and completes (see ``medbench list strategies``)."""

    model_config = ConfigDict(extra="allow")

    kind: str | None = Field(None, description="registry name; defaults to the strategy's key")
    train: dict[str, Any] = Field(
        default_factory=dict, description="training settings this strategy changes (ablations)"
    )

    @property
    def options(self) -> dict[str, Any]:
        """The strategy's own settings (every one, defaults included, once checked)."""
        return dict(self.model_extra or {})


class ExplainConfig(BaseModel):
    """What to explain and how; a method's own settings sit in a section named after it
    (``lime: {samples: 128}``), checked and completed by the method's options model."""

    model_config = ConfigDict(extra="allow")

    methods: list[str] = Field(
        default_factory=lambda: ["gradcam"], description="see `medbench list cams`"
    )
    per_class: int = Field(2, ge=0, description="gallery: correct and wrong examples per class")
    stages: bool = Field(False, description="also one Grad-CAM per backbone stage")
    layer: str | None = Field(None, description="module name; default: the last stage")
    max_images: int = Field(64, ge=1, description="test images scored for CAM quality")
    road_images: int = Field(
        8, ge=0, description="of those, scored by ROAD too (a sparse solve per image: slow)"
    )
    top_percent: float = Field(
        10.0, gt=0, lt=100, description="the map's top region: IoU with the mask, blurred for drop"
    )
    budget_s: float = Field(
        120.0, gt=0, description="slow methods: seconds per method and cell (scores and gallery)"
    )
    save_maps: int = Field(4, ge=0, description="raw maps saved as .npy per method")

    def method_options(self, method: str) -> dict[str, Any]:
        """The settings given to ``method`` (its section; empty without one)."""
        return dict((self.model_extra or {}).get(method) or {})

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if names := _names(info):
            known = names.methods()
            for name in value:
                if name not in known:
                    raise ValueError(
                        f"unknown explanation method '{name}': expected one of {sorted(known)}."
                        + suggest(name, known)
                    )
        return value

    @model_validator(mode="after")
    def _method_sections(self, info: ValidationInfo) -> ExplainConfig:
        """Each section is a mapping; with the registries, a section names a method that has
        settings, and is validated and completed by its options model (a listed method
        that has settings gets a section of its defaults)."""
        names = _names(info)
        known = names.methods() if names else None
        own = sorted(type(self).model_fields)
        sections, problems = dict(self.model_extra or {}), Problems()
        missing = [m for m in self.methods if known and known.get(m) and m not in sections]
        for key in [*sections, *missing]:
            value = sections.get(key, {})
            options = known.get(key) if known is not None else None
            if known is not None and options is None:
                allowed = own + sorted(m for m in known if known[m] is not None)
                hint = f" {key} is an explanation method without settings." if key in known else ""
                message = unknown_setting(key, allowed, hint=hint)
                problems.append(problem((key,), message, value=value, kind="unknown_setting"))
            elif not isinstance(value, dict):
                message = f"expected a mapping of the {key} method's settings, or one of {own}"
                problems.append(problem((key,), message, value=value))
            elif options is not None:
                sections[key] = check_options(
                    options, value, loc=(key,), problems=problems,
                    unknown=partial(unknown_setting, allowed=sorted(options.model_fields)),
                )  # fmt: skip
        problems.raise_if_any("ExplainConfig")
        if known is not None:
            self.__pydantic_extra__ = sections
        return self


def _not_a_setting_of(name: str, kind: str, known: Mapping[str, type[BaseModel]]) -> str:
    """The message for ``strategies.<key>.<name>`` that strategy ``kind`` does not have."""
    owners = sorted(k for k, options in known.items() if name in options.model_fields)
    hint = ""
    if owners:
        listed = ", ".join(owners[:-1]) + " or " + owners[-1] if len(owners) > 1 else owners[0]
        hint = f" {name} is a setting of the {listed} strategy, not of '{kind}'."
    allowed = sorted(StrategyConfig.model_fields) + sorted(known[kind].model_fields)
    return unknown_setting(name, allowed, hint=hint)
