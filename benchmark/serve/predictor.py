"""A trained cell's model as a predictor: raw images in, class probabilities and the decided
class (or labels) out, with the preprocessing of training (the same ops, size and
normalisation) and the task's decision (thresholds included), all read from its config."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmark import track
from benchmark.data import DicomOptions, bind_mean, normalize, parse_op, prepare_image
from benchmark.data.files import BadImage, decode_image, read_image
from benchmark.devices import autocast, layout, prepare_for, resolve_device
from benchmark.models import load_model
from benchmark.serve._task import ServedTask

__all__ = ["ImageInput", "Predictor", "load_predictor"]

ImageInput = str | Path | bytes | np.ndarray
"""A path to an image file, the file's bytes, or a decoded uint8 H × W (× 1 or 3) array."""


@dataclass
class Predictor:
    """``Predictor.load(folder)`` on a folder holding ``model.safetensors`` + ``config.json``."""

    model: nn.Module
    config: dict
    device: torch.device
    channels_last: bool = False  # the layout the model was put in on a GPU
    task: ServedTask = field(init=False)

    def __post_init__(self) -> None:
        self.task = ServedTask.from_config(self.config)

    @classmethod
    def load(cls, folder: Path, *, device: str = "auto") -> Predictor:
        """The model of ``folder`` in eval mode, on the GPU when ``device`` is ``auto`` and
        one exists, laid out and computing in the precision it was evaluated in."""
        target = resolve_device(device)
        model, config = load_model(folder)
        channels_last = prepare_for(model, target)
        return cls(model=model, config=config, device=target, channels_last=channels_last)

    @property
    def classes(self) -> list[str]:
        return list(self.config["classes"])

    def prepare(self, image: ImageInput) -> torch.Tensor:
        """One input → uint8 C × H × W after the training preprocessing; :class:`BadImage`
        says why an input cannot be used."""
        dicom = DicomOptions.model_validate(self.config.get("dicom") or {})  # as in training
        if isinstance(image, np.ndarray):
            decoded = _check_array(image)
        elif isinstance(image, bytes | bytearray | memoryview):
            decoded = decode_image(bytes(image), dicom=dicom)
        elif isinstance(image, str | Path):
            decoded = read_image(image, dicom=dicom)
        else:
            raise BadImage(
                "expected a path, the file's bytes or a uint8 array, "
                f"but got {type(image).__name__}"
            )
        ops = [parse_op(op) for op in self.config.get("preprocess", [])]
        if "mean" in self.config:  # a mean-colour pad: the backbone's, as trained
            ops = bind_mean(ops, self.config["mean"])
        array = prepare_image(decoded, ops=ops, size=self.config["image_size"])
        if array.shape[2] == 1:  # as normalisation does in training: gray is read as RGB
            array = np.repeat(array, 3, axis=2)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)

    def probabilities(self, images: Sequence[torch.Tensor], *, batch_size: int = 32) -> np.ndarray:
        """Prepared images (see :meth:`prepare`) → N × classes probabilities (a sigmoid per
        label for a multi-label model, a softmax otherwise)."""
        out = [np.zeros((0, len(self.classes)), np.float32)]
        with torch.inference_mode(), autocast(self.device):
            for start in range(0, len(images), batch_size):
                batch = torch.stack(list(images[start : start + batch_size]))
                logits = self.model(layout(self.normalized(batch), self.channels_last))
                out.append(self.task.probabilities(logits).cpu().numpy())
        return np.concatenate(out)

    def predict(self, images: Sequence[ImageInput]) -> pd.DataFrame:
        """One row per input: the answer and one probability column per class (see
        :meth:`table`).

        Raises :class:`BadImage` naming the first input that cannot be used.
        """
        prepared: list[torch.Tensor] = []
        for i, (image, result) in enumerate(zip(images, self.prepare_many(images), strict=True)):
            if isinstance(result, BadImage):
                name = image if isinstance(image, str | Path) else f"input {i}"
                raise BadImage(f"{name}: {result}")
            prepared.append(result)
        return self.table(self.probabilities(prepared))

    def prepare_many(self, images: Sequence[ImageInput]) -> list[torch.Tensor | BadImage]:
        """:meth:`prepare` on each input, decoded by one thread per core (decoders release
        the GIL); an input that cannot be used gives its :class:`BadImage` in its place."""

        def attempt(image: ImageInput) -> torch.Tensor | BadImage:
            try:
                return self.prepare(image)
            except BadImage as exc:
                return exc

        if len(images) < 2:
            return [attempt(image) for image in images]
        with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1)) as pool:
            return list(pool.map(attempt, images))

    def table(self, probs: np.ndarray) -> pd.DataFrame:
        """Probabilities → ``label``, ``confidence`` (binary: and its ``threshold``), or for a
        multi-label model ``labels`` (the list of labels at or above their thresholds), then
        one column per class."""
        return self.task.table(probs)

    def targets(self, probs: np.ndarray) -> list[int]:
        """One image's probabilities → the classes its maps explain: the decided class, or
        each label at or above its threshold, likeliest first (else the likeliest label)."""
        return self.task.targets(probs)

    def overlay(self, image: torch.Tensor, *, target: int, method: str = "gradcam") -> np.ndarray:
        """The ``method`` map of class ``target`` over a prepared image (uint8 H × W × 3)."""
        from benchmark.explain import cam_maps, overlay

        mean, std = self.config["mean"], self.config["std"]
        x = self.normalized(image[None])
        cam = cam_maps(self.model, x, targets=[target], method=method, mean=mean, std=std)[0]
        return overlay(image.numpy(), cam)

    def normalized(self, batch: torch.Tensor) -> torch.Tensor:
        """Prepared uint8 images → the model's normalised float input on its device."""
        return normalize(
            batch, mean=self.config["mean"], std=self.config["std"], device=self.device
        )


def load_predictor(
    reference: str | None, *, tracking_uri: str | None = None, device: str = "auto"
) -> tuple[Predictor, track.ModelSource]:
    """The predictor of ``reference`` (any model reference, see ``track.Store.resolve_model``;
    ``None``: the registered model with the alias ``champion``) and where it came from.

    Its weights are checked against the sha256 recorded for it before the model is built:
    weights changed since they were logged or promoted raise ``ModelIntegrityError``.
    """
    store = track.connect(tracking_uri)
    uri = reference or store.champion_uri()
    with tempfile.TemporaryDirectory() as tmp:
        source = store.resolve_model(uri, Path(tmp))
        predictor = Predictor.load(source.folder, device=device)
    return predictor, source


def _check_array(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise BadImage(f"expected a uint8 array, but got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3):
        return image
    raise BadImage(f"expected an H × W or H × W × 3 array, but got shape {image.shape}")
