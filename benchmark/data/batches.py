"""Mini-batches from uint8 images: shuffle, augment, normalise, on the training device; and
their counterpart for heads trained on a frozen backbone's features (:class:`FeatureBatches`).

The images of a cell stay where :func:`place_images` put them: on the GPU itself when they
fit its budget (each batch is then gathered there, nothing crosses the bus), else in host
memory, from which the next batch is gathered into pinned memory and copied on a side
stream while the current one trains. Augmentation and normalisation run on the device, batched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = [
    "BatchTransform",
    "Batches",
    "FeatureBatches",
    "FeatureSet",
    "device_budget",
    "normalize",
    "place_images",
]


def normalize(
    x: torch.Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """uint8 (or float 0–255) N × C × H × W → float N × 3 × H × W on ``device``, normalised as
    the backbone was."""
    device = torch.device(device)
    return _Scale(mean, std, device)(x)


class BatchTransform(Protocol):
    """What ``Batches`` applies to each batch before normalising: ``transform(x, generator)``
    on float N × C × H × W values 0–255, the same shape back (an ``Augment``, a
    ``Corruption``)."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator, /) -> torch.Tensor: ...


class _Scale:
    """``(x − 255·mean) / (255·std)`` on one device; its constants are copied there once
    (a copy from a Python list is a blocking one: never per batch)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device):
        self.device = device
        self.mean = torch.tensor(mean).view(1, -1, 1, 1).mul(255).to(device)
        self.std = torch.tensor(std).view(1, -1, 1, 1).mul(255).to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


def device_budget(device: torch.device) -> int:
    """Bytes of a GPU the images of a cell may take: ``MEDBENCH_DATA_ON_DEVICE`` (``auto``: a
    quarter of its free memory; ``off``: none, batches come from pinned host memory; or a
    number of GiB). Nothing on a CPU."""
    from benchmark.settings import settings

    setting = settings().data_on_device  # checked on every device, so a typo is caught here
    if device.type != "cuda" or setting == "off":
        return 0
    if setting == "auto":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return int(setting * 2**30)


def place_images(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``images`` where a cell's batches are best gathered from: on ``device`` if it is a GPU
    and they fit its budget, else where they are (host memory)."""
    device = torch.device(device)
    if device.type == "cuda" and images.numel() * images.element_size() <= device_budget(device):
        return images.to(device)
    return images


class _Passes:
    """What both kinds of batches share: ``len`` in batches, ``num_images``, and iterating
    one epoch (``epoch`` of the subclass) over ``indices`` in ``batch_size`` batches."""

    indices: torch.Tensor
    batch_size: int

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch()

    def epoch(self, *, drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError


class Batches(_Passes):
    """Iterates ``(inputs, labels)`` over ``indices`` of an image tensor.

    Inputs are float, normalised with the model's ``mean``/``std``, with three channels
    (grayscale data is repeated). Augmentation (or a test-time corruption), when
    given, runs on each batch on the device before normalisation, with settings drawn from
    this object's seeded generator (as is the shuffling, which differs per epoch). With
    ``views`` above 1 every image appears that many times per batch, each independently
    augmented (contrastive learning), labels repeated to match.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        indices: Sequence[int] | torch.Tensor,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        augment: BatchTransform | None = None,
        views: int = 1,
        seed: int = 0,
    ) -> None:
        self.images, self.labels = images, labels.to(images.device)
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.mean, self.std = tuple(mean), tuple(std)
        self.shuffle, self.augment, self.views = shuffle, augment, views
        self.generator = torch.Generator().manual_seed(seed)
        self._scale = _Scale(self.mean, self.std, self.device)
        self._stream: torch.cuda.Stream | None = None  # the copy-ahead stream, made once

    def epoch(self, *, drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass; ``drop_last`` leaves out a last partial batch (a compiled model sees one
        shape only)."""
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator)]
        if self.images.device.type == "cuda":  # gathered on the GPU: its indices go once
            order = order.to(self.images.device)
        chunks = []
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if drop_last and len(idx) < self.batch_size:
                break
            if self.shuffle and len(idx) * self.views == 1:
                break  # BatchNorm cannot train on one image; a random one sits out this epoch
            chunks.append(idx.repeat(self.views))
        for x, y in self._gathered(chunks):
            if self.augment is not None:
                x = self.augment(x.float(), self.generator)
            yield self.to_input(x), y

    def _gathered(self, chunks: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Each chunk's uint8 images and labels on the device: gathered there when the images
        live there; else gathered into pinned memory and copied one batch ahead, on a side
        stream."""
        if self.images.device.type == "cuda" or self.device.type != "cuda":  # no copy ahead
            for idx in chunks:
                yield self.images[idx].to(self.device), self.labels[idx].to(self.device)
            return
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        stream = self._stream

        def copy(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x, y = self.images[idx].pin_memory(), self.labels[idx].pin_memory()
            with torch.cuda.stream(stream):
                return (x.to(self.device, non_blocking=True),
                        y.to(self.device, non_blocking=True))  # fmt: skip

        if not chunks:
            return
        ahead = copy(chunks[0])
        for k in range(len(chunks)):
            torch.cuda.current_stream(self.device).wait_stream(stream)
            x, y = ahead
            x.record_stream(torch.cuda.current_stream(self.device))
            y.record_stream(torch.cuda.current_stream(self.device))
            if k + 1 < len(chunks):
                ahead = copy(chunks[k + 1])
            yield x, y

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        return self._scale(x)


@dataclass(frozen=True)
class FeatureSet:
    """A split's pooled features (float32 N × D, row i of image i) and labels (int64 N, or
    float32 N × L targets of a multi-label task), on or off the device."""

    features: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.features.dim() != 2 or self.labels.shape[:1] != (len(self.features),):
            raise ValueError(
                f"a FeatureSet holds N × D features and N labels, but got "
                f"{tuple(self.features.shape)} and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        return self.features.shape[1]


class FeatureBatches(_Passes):
    """Iterates ``(features, labels)`` over ``indices`` (default: all) of a :class:`FeatureSet`,
    as :class:`Batches` does over images (the same seeded shuffling, a last batch of one left
    out of a shuffled epoch), so ``train.fit`` trains a head on features as it trains a model
    on images. The features are copied to ``device`` once."""

    def __init__(
        self,
        data: FeatureSet,
        *,
        batch_size: int,
        indices: Sequence[int] | torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.features = data.features.to(self.device).float()
        labels = data.labels
        self.labels = labels.to(self.device, dtype=torch.long if not labels.is_floating_point()
                                else torch.float32)  # fmt: skip
        self.indices = (
            torch.arange(len(data))
            if indices is None
            else torch.as_tensor(indices, dtype=torch.long)
        )
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self, *, drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass; ``drop_last`` leaves out a last partial batch."""
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator)]
        order = order.to(self.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if drop_last and len(idx) < self.batch_size:
                break
            if self.shuffle and len(idx) == 1:
                break  # as Batches: BatchNorm (an mlp head's) cannot train on one row
            yield self.features[idx], self.labels[idx]
