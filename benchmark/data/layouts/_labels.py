"""Multi-label datasets: the N × L targets (1.0 present, 0.0 absent, NaN missing), the
policies that turn a CSV's ``1``/``0``/``-1``/blank observations into them, the readable
summary kept in a record's ``label``, and lesion boxes rasterised into masks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Box",
    "ObservationOptions",
    "box_mask",
    "label_summary",
    "observations",
    "pick_findings",
    "targets_of",
]

Uncertain = Literal["ignore", "zeros", "ones"]
Blank = Literal["negative", "missing"]
_VALUES = {"1": 1.0, "1.0": 1.0, "0": 0.0, "0.0": 0.0, "-1": -1.0, "-1.0": -1.0, "": np.nan}


class ObservationOptions(BaseModel):
    """What an uncertain (``-1``) or blank observation becomes."""

    uncertain: Uncertain = Field(
        "ignore",
        description="an uncertain (-1) observation: ignore (missing, left out of loss and "
        "metrics; U-Ignore), zeros (absent; U-Zeros) or ones (present; U-Ones)",
    )
    blank: Blank = Field(
        "negative", description="a blank observation: negative (absent) or missing"
    )


def observations(
    values: pd.DataFrame, *, uncertain: Uncertain, blank: Blank
) -> tuple[np.ndarray, list[str]]:
    """Columns of ``1``/``0``/``-1``/blank text → float32 targets under the policies, and
    ``"column 'X' row R: 'v'"`` for each value that is none of these (rows counted as a
    file's lines, the header being line 1)."""
    out = np.empty(values.shape, dtype=np.float32)
    blanks = np.zeros(values.shape, dtype=bool)
    bad: list[str] = []
    for j, column in enumerate(values.columns):
        text = values[column].fillna("").astype(str).str.strip()
        parsed = text.map(_VALUES)
        blanks[:, j] = (text == "").to_numpy()
        wrong = np.flatnonzero(parsed.isna().to_numpy() & ~blanks[:, j])
        bad += [f"column '{column}' row {i + 2}: {text.iat[i]!r}" for i in wrong[:5]]
        out[:, j] = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    out[out == -1.0] = {"ignore": np.nan, "zeros": 0.0, "ones": 1.0}[uncertain]
    out[blanks] = 0.0 if blank == "negative" else np.nan
    return out, bad


def targets_of(sets: Iterable[Iterable[str]], classes: Sequence[str]) -> np.ndarray:
    """Sets of present labels → 0/1 float32 targets with columns ``classes``."""
    column = {name: j for j, name in enumerate(classes)}
    rows = list(sets)
    out = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for i, present in enumerate(rows):
        for name in present:
            out[i, column[name]] = 1.0
    return out


def label_summary(targets: np.ndarray, classes: Sequence[str]) -> list[str]:
    """Each row's present labels joined by ``|`` in class order (``""``: none)."""
    present = np.asarray(targets) == 1.0
    names = np.asarray(classes, dtype=object)
    return ["|".join(names[row]) for row in present]


def pick_findings(
    classes: Sequence[str], keep: Sequence[str] | None, *, option: str = "findings"
) -> list[int]:
    """The column positions of the labels ``keep`` names (all when None), in the
    dataset's order; an unknown name is a ValueError for the options' validator."""
    if keep is None:
        return list(range(len(classes)))
    unknown = [name for name in keep if name not in classes]
    if unknown:
        raise ValueError(f"{option}: unknown {unknown}; expected some of {list(classes)}")
    return [j for j, name in enumerate(classes) if name in keep]


class Box(NamedTuple):
    """A lesion's box: top-left ``x``, ``y``, width ``w`` and height ``h`` in the pixels of
    an image ``frame`` = (width, height) large (None: the image's own size)."""

    x: float
    y: float
    w: float
    h: float
    label: str = ""
    frame: tuple[int, int] | None = None


def box_mask(boxes: Iterable[Box], shape: tuple[int, ...]) -> np.ndarray:
    """The union of ``boxes`` as a bool mask of ``shape`` (height, width), each box scaled
    from its frame to the image and covering every pixel it touches."""
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        sx, sy = (1.0, 1.0) if box.frame is None else (width / box.frame[0], height / box.frame[1])
        x0, y0 = max(0, math.floor(box.x * sx)), max(0, math.floor(box.y * sy))
        x1 = min(width, max(x0 + 1, math.ceil((box.x + box.w) * sx)))
        y1 = min(height, max(y0 + 1, math.ceil((box.y + box.h) * sy)))
        mask[y0:y1, x0:x1] = True
    return mask
