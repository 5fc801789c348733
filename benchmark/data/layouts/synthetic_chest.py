"""A multi-label dataset in memory: chest phantoms with several findings each, some rare,
some unknown, several images a patient (no download; for tests and demos)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import Field, field_validator, model_validator

from benchmark.data.chest_phantoms import FINDINGS, PREVALENCE, render_chest
from benchmark.data.layouts._base import LayoutOptions, Source, register


class SyntheticMultilabelOptions(LayoutOptions):
    findings: list[str] = Field(
        default_factory=lambda: list(FINDINGS),
        min_length=1,
        description=f"the findings (the labels, in column order): some of {list(FINDINGS)}",
    )
    images: int = Field(200, ge=1, description="images in all")
    size: int = Field(64, ge=16, description="rendered size in pixels")
    prevalence: dict[str, float] = Field(
        default_factory=dict,
        description=f"each finding's share of patients, 0 to 1 (default {PREVALENCE})",
    )
    missing: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of the target entries left unknown (NaN)"
    )
    per_patient: int = Field(
        1, ge=1, description="images per patient (one split group, the same findings)"
    )
    difficulty: float = Field(0.5, ge=0.0, le=1.0, description="0 easy … 1 hard")
    seed: int = Field(0, description="phantom stream; independent of the suite's seed")

    @field_validator("findings")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(FINDINGS))
        if unknown:
            raise ValueError(f"unknown findings {unknown}: expected some of {list(FINDINGS)}")
        if len(set(value)) < len(value):
            raise ValueError(f"findings {value} name one twice")
        return value

    @model_validator(mode="after")
    def _prevalence(self) -> SyntheticMultilabelOptions:
        unknown = sorted(set(self.prevalence) - set(self.findings))
        if unknown:
            raise ValueError(f"prevalence of {unknown}, which are not among {self.findings}")
        bad = {k: p for k, p in self.prevalence.items() if not 0.0 <= p <= 1.0}
        if bad:
            raise ValueError(f"prevalence {bad} must lie within [0, 1]")
        return self


@register("synthetic-multilabel", options=SyntheticMultilabelOptions, needs_root=False)
def synthetic_multilabel(root: Path | None, options: SyntheticMultilabelOptions) -> Source:
    """Chest phantoms with several findings each (multi-label), rendered in memory."""
    import pandas as pd

    findings, n = list(options.findings), options.images
    share = np.array([options.prevalence.get(f, PREVALENCE[f]) for f in findings])
    patients = math.ceil(n / options.per_patient)
    patient = np.arange(n) // options.per_patient
    present = np.random.default_rng([options.seed, 3]).random((patients, len(findings))) < share
    present = present[patient]  # a patient's images show its findings
    targets = present.astype(np.float32)
    targets[np.random.default_rng([options.seed, 4]).random(targets.shape) < options.missing] = (
        np.nan
    )
    labels = ["|".join(f for f, t in zip(findings, row, strict=True) if t == 1) for row in targets]
    ids = [f"chest_{options.seed}_{i:05d}" for i in range(n)]
    groups = [f"patient_{options.seed}_{p:05d}" for p in patient]
    records = pd.DataFrame(
        {"id": ids, "label": labels, "split": "", "group": groups, "path": "", "mask": ""}
    )

    def render(i: int) -> tuple[np.ndarray, np.ndarray]:
        shown = [f for f, on in zip(findings, present[i], strict=True) if on]
        p = render_chest(
            i,
            findings=shown,
            patient=int(patient[i]),
            seed=options.seed,
            size=options.size,
            difficulty=options.difficulty,
        )
        return p.image, p.mask

    settings = options.model_dump(exclude={"labels", "images", "missing"})
    fingerprint = "chest-phantom:" + json.dumps(settings, sort_keys=True)
    return Source(records, findings, render=render, fingerprint=fingerprint, targets=targets)
