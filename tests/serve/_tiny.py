"""Tiny untrained models saved as a cell's run saves them (its ``config.json`` with ``task``,
``thresholds`` and ``temperature``), for the tests of how each task's model is served."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image

from benchmark.data import render_phantom
from benchmark.models import create_model, input_config, input_stats, save_model

LABELS = ["atelectasis", "effusion", "nodule"]  # a multi-label model's outputs
BINARY = ["benign", "cancer"]  # [negative, positive]
SIZE = 32


def tiny_model(
    folder: Path,
    *,
    classes: list[str],
    task: dict | None = None,
    thresholds: dict[str, float] | None = None,
    seed: int = 0,
    temperature: float | dict[str, float] | None = None,
) -> Path:
    """An untrained ``test_resnet`` with one output per class saved in ``folder``; ``task``
    ``None`` leaves ``task`` and ``thresholds`` out, as models saved before tasks existed,
    and ``temperature`` ``None`` leaves it out, as models saved before calibration."""
    torch.manual_seed(seed)
    model = create_model("test_resnet", num_classes=len(classes), pretrained=False).eval()
    mean, std = input_stats(model)
    backbone = input_config(model)
    config = {
        "backbone": "test_resnet",
        "kwargs": {},
        "input": {
            "mean": list(mean),
            "std": list(std),
            "size": SIZE,
            "pretrained_size": backbone["input_size"],
            "interpolation": backbone["interpolation"],
        },
        "num_classes": len(classes),
        "classes": list(classes),
        "head": {"kind": "linear"},
        "image_size": SIZE,
        "in_chans": 3,
        "mean": list(mean),
        "std": list(std),
        "preprocess": [],
        "dicom": None,
        "dropout": 0.0,
    }
    if task is not None:
        config |= {"task": task, "thresholds": thresholds}
    if temperature is not None:
        config["temperature"] = temperature
    save_model(model, folder, config=config)
    return folder


def scans(n: int = 3) -> list:
    """``n`` gray phantom images (uint8 arrays) of different content."""
    return [render_phantom(k, seed=11, size=48, difficulty=0.4).image for k in range(n)]


def png(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
