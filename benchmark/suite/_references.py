"""A suite's ``references:``: published results, each row matched to the cells it holds for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ReferenceRow", "References"]


class ReferenceRow(BaseModel):
    """One published result: which cells it matches, and its numbers (accuracy as a fraction,
    ``params_m`` in millions, ``train_min`` in minutes, latencies in ms). A key left out
    matches every cell; ``where`` narrows it to cells with those settings; ``average:
    datasets`` says the numbers are means over datasets (compared with our mean over the
    matching cells' datasets)."""

    model_config = ConfigDict(extra="allow")

    dataset: str | None = None
    backbone: str | None = None
    strategy: str | None = None
    average: Literal["datasets"] | None = Field(
        None,
        description="datasets: a mean over the datasets (leave `dataset:` out); ours is the "
        "mean over the datasets of the matching cells",
    )
    where: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="the settings of the cells it holds for, dotted as --set names them, e.g. "
        "{data.options.size: 28}; a row whose settings no cell run has is left out",
    )
    note: str = ""

    @model_validator(mode="after")
    def _numbers(self) -> ReferenceRow:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"reference value {key} must be a number, but got {value!r}")
        if self.average == "datasets" and self.dataset is not None:
            raise ValueError(
                f"a row averaged over datasets names no dataset, but got '{self.dataset}': "
                "leave `dataset:` out, or `average:` for one dataset's number"
            )
        return self

    @property
    def values(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.model_extra or {}).items()}


class References(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="the paper (and table) the numbers come from")
    rows: list[ReferenceRow] = Field(min_length=1)
