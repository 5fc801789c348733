"""Mini-batches from in-memory uint8 images: shuffle, augment, normalise, move to device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from benchmark.data.augment import Augment

__all__ = ["Batches", "normalize"]


def normalize(
    x: torch.Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """uint8 N × C × H × W → float N × 3 × H × W on ``device``, normalised as the backbone was."""
    device = torch.device(device)
    x = x.to(device, non_blocking=True).float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean_t = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
    std_t = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
    return (x - mean_t) / std_t


class Batches:
    """Iterates ``(inputs, labels)`` over ``indices`` of an image tensor.

    Inputs are float, normalised with the model's ``mean``/``std`` and have three channels
    (grayscale data is repeated). Augmentation, when given, runs on the uint8 images of each
    batch before normalisation; shuffling is seeded and differs per epoch. With ``views``
    above 1 every image appears that many times per batch, each independently augmented
    (contrastive learning), labels repeated to match.
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
        augment: Augment | None = None,
        views: int = 1,
        seed: int = 0,
    ) -> None:
        self.images, self.labels = images, labels
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.mean, self.std = tuple(mean), tuple(std)
        self.shuffle, self.augment, self.views = shuffle, augment, views
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator)]
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.shuffle and len(idx) * self.views == 1:
                break  # BatchNorm cannot train on one image; a random one sits out this epoch
            idx = idx.repeat(self.views)
            x = self.images[idx]
            if self.augment is not None:
                x = self.augment(x)
            yield self.to_input(x), self.labels[idx].to(self.device, non_blocking=True)

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        return normalize(x, mean=self.mean, std=self.std, device=self.device)
