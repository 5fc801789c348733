"""Many image files through a predictor in chunks: the table ``medbench predict`` writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.data import BadImage
from benchmark.serve.predictor import Predictor

__all__ = ["CHUNK", "predict_files", "save_png"]

CHUNK = 64  # images prepared and classified together


def predict_files(
    predictor: Predictor,
    files: Sequence[Path],
    *,
    top_k: int = 3,
    cam: str | None = None,
    overlays: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per file, in order: ``file``, the answer (``label``, ``confidence``, for a
    binary model its ``threshold``; for a multi-label model ``labels``, the labels at or
    above their thresholds joined by ``|``), ``top_k`` (the ``top_k`` likeliest classes or
    labels), one probability column per class, ``overlay`` (the ``cam`` map written under
    ``overlays``, when asked: for a multi-label model one per label found, or of the
    likeliest label when none is, their paths joined by ``|``) and ``error`` (why a file
    could not be used; empty otherwise). Files are decoded ``CHUNK`` at a time, one thread
    per core."""
    if cam is not None and overlays is None:
        raise ValueError("`overlays` must name a folder when `cam` is given")
    names = _file_names(predictor.classes)
    rows: list[dict] = []
    for start in range(0, len(files), CHUNK):
        paths = files[start : start + CHUNK]
        good: list[tuple[int, Path]] = []
        prepared: list[torch.Tensor] = []
        for position, (path, image) in enumerate(
            zip(paths, predictor.prepare_many(paths), strict=True), start=start
        ):
            if isinstance(image, BadImage):
                rows.append({"position": position, "file": str(path), "error": str(image)})
            else:
                good.append((position, path))
                prepared.append(image)
        probs = predictor.probabilities(prepared)
        table = predictor.table(probs)
        answers = zip(good, prepared, probs, table.iterrows(), strict=True)
        for (position, path), image, scores, (_, row) in answers:
            ranked = row[predictor.classes].astype(float).nlargest(top_k)
            entry = {"position": position, "file": str(path), **row.to_dict(), "error": ""}
            if predictor.task.multilabel:
                entry["labels"] = "|".join(entry["labels"])
            entry["top_k"] = "; ".join(f"{name} {p:.3f}" for name, p in ranked.items())
            if cam is not None and overlays is not None:  # both or neither: checked above
                written = []
                for k in predictor.targets(scores):
                    # unique names: the position, and each label's own for a multi-label model
                    label = f"_{names[k]}" if predictor.task.multilabel else ""
                    target = overlays / f"{position:04d}_{path.stem}_{cam}{label}.png"
                    save_png(predictor.overlay(image, target=k, method=cam), target)
                    written.append(str(target))
                entry["overlay"] = "|".join(written)
            rows.append(entry)
        if progress is not None:
            progress(min(start + CHUNK, len(files)), len(files))
    frame = pd.DataFrame(rows, columns=["position", "file", "error"] if not rows else None)
    frame = frame.sort_values("position")
    answer = ["label", "confidence", "threshold", "labels", "top_k"]
    order = ["file", *answer, *predictor.classes, "overlay", "error"]
    return frame.reindex(columns=[c for c in order if c in frame]).reset_index(drop=True)


def _file_names(classes: Sequence[str]) -> list[str]:
    """Each class name as a safe part of a file name; the class's position is added where
    two would read the same."""
    safe = [re.sub(r"[^\w.-]+", "-", name).strip("-.") or "class" for name in classes]
    if len(set(safe)) == len(safe):
        return safe
    return [f"{k}-{name}" for k, name in enumerate(safe)]


def save_png(image: np.ndarray, path: Path) -> None:
    """An RGB uint8 array as a PNG file."""
    from PIL import Image

    Image.fromarray(image).save(path)
