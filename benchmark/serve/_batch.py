"""Many image files through a predictor in chunks: the table ``medbench predict`` writes."""

from __future__ import annotations

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
    """One row per file, in order: ``file``, ``label``, ``confidence``, ``top_k`` (the
    ``top_k`` likeliest classes), one probability column per class, ``overlay`` (the
    ``cam`` map written under ``overlays``, when asked) and ``error`` (why a file could not
    be used; empty otherwise). Files are decoded ``CHUNK`` at a time, one thread per core."""
    if cam is not None and overlays is None:
        raise ValueError("`overlays` must name a folder when `cam` is given")
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
        table = predictor.table(predictor.probabilities(prepared))
        for (position, path), image, (_, row) in zip(good, prepared, table.iterrows(), strict=True):
            ranked = row[predictor.classes].astype(float).nlargest(top_k)
            entry = {"position": position, "file": str(path), **row.to_dict(), "error": ""}
            entry["top_k"] = "; ".join(f"{name} {p:.3f}" for name, p in ranked.items())
            if cam is not None and overlays is not None:  # both or neither: checked above
                target = overlays / f"{position:04d}_{path.stem}_{cam}.png"  # unique names
                label = predictor.classes.index(row["label"])
                save_png(predictor.overlay(image, target=label, method=cam), target)
                entry["overlay"] = str(target)
            rows.append(entry)
        if progress is not None:
            progress(min(start + CHUNK, len(files)), len(files))
    frame = pd.DataFrame(rows, columns=["position", "file", "error"] if not rows else None)
    frame = frame.sort_values("position")
    order = ["file", "label", "confidence", "top_k", *predictor.classes, "overlay", "error"]
    return frame.reindex(columns=[c for c in order if c in frame]).reset_index(drop=True)


def save_png(image: np.ndarray, path: Path) -> None:
    """An RGB uint8 array as a PNG file."""
    from PIL import Image

    Image.fromarray(image).save(path)
