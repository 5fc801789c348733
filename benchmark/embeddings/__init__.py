"""The embedding cache: a frozen backbone's pooled pre-logits features, computed once per
(backbone, weights, preprocessing, size, normalisation) and image, and read back by every
trial, seed, strategy, cell, worker and later run that needs them.

On disk, under the cache folder (``MEDBENCH_CACHE``; ``off``: none), one folder per key::

    embeddings/<key>/about.json          what the key names (backbone, kwargs, size, ...)
    embeddings/<key>/<rows>.json         a shard's record: its images' content hashes in row
                                         order, its shape, and its data file's size and sha256
    embeddings/<key>/<rows>-<sum>.npy    the shard's features, float32 M × D

``<rows>`` is a digest of the shard's image hashes, ``<sum>`` the start of its file's sha256:
a data file never changes under its name, so a record and the file it names always agree,
and two processes writing the same shard at once end with one good copy (each file is written
to a temporary name, then renamed). A shard is read memory-mapped (``.npy``: ``np.load``
maps it and ``torch.from_numpy`` wraps the map without a copy; the record beside it is plain
JSON, which ``medbench data cache`` lists without opening the data) after its size and
checksum are checked; a damaged one is removed and its features computed again, never
trusted. A folder that cannot be written (read-only, full) costs one warning: the features
are computed without the cache.

Importing this package loads neither torch nor timm (``medbench data cache`` lists the cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.embeddings._store import FORMAT, EmbeddingStore, StoredKey
from benchmark.settings import cache_home

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "EmbeddingStore",
    "Embeddings",
    "StoredKey",
    "default_embedding_store",
    "embed_images",
    "embedding_key",
    "weights_digest",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Embeddings:
    """Features of a set of images, row ``i`` for image ``i``."""

    features: torch.Tensor  # float32, N × D, CPU (memory-mapped when one cached shard held them)
    key: str  # the cache key's digest
    computed: int  # images passed through the backbone by this call (repeated images once)
    reused: int  # rows read from the cache
    seconds: float


def embedding_key(
    *,
    backbone: str,
    kwargs: Mapping[str, Any],
    weights: str,
    preprocess: Sequence[Any],
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    dicom: Mapping[str, Any] | None = None,
    precision: str = "float32",
) -> str:
    """The digest naming one way of embedding an image: the backbone's name and the kwargs
    it was built with, its weights (:func:`weights_digest`), the preprocessing ops (and their
    version), the input size, the normalisation, how DICOM files are read (``None`` or empty:
    the default), the precision it computes in (a GPU's bfloat16 features are not a CPU's
    float32 ones), timm's version (the architectures' code) and this cache's format."""
    from importlib.metadata import version

    from benchmark.data.preprocess import OPS_VERSION

    recipe = {
        "format": FORMAT,
        "timm": version("timm"),
        "backbone": backbone,
        "kwargs": dict(kwargs),
        "weights": weights,
        "preprocess": [list(op) if isinstance(op, tuple) else op for op in preprocess],
        "ops_version": OPS_VERSION,
        "image_size": int(image_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "dicom": dict(dicom) if dicom else None,
        "precision": precision,
    }
    text = json.dumps(recipe, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_digest(model: nn.Module) -> str:
    """sha256 over the backbone's tensors (names, dtypes, shapes, values; buffers such as
    BatchNorm's statistics included), leaving out the classifier's: it does not change the
    pre-logits features, so a model with a fresh head keeps its backbone's digest."""
    import torch

    from benchmark.models import classifier_modules

    head = {id(module) for module in classifier_modules(model)}
    prefixes = tuple(f"{name}." for name, module in model.named_modules() if id(module) in head)
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if prefixes and name.startswith(prefixes):
            continue
        values = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)};".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def default_embedding_store() -> EmbeddingStore | None:
    """The store in the cache folder: none when ``MEDBENCH_CACHE`` is ``off``, or when the
    folder cannot be written (one warning, from :func:`benchmark.settings.cache_home`)."""
    home = cache_home()
    return EmbeddingStore(home / "embeddings") if home is not None else None


def embed_images(
    model: nn.Module,
    images: torch.Tensor,
    shas: Sequence[str],
    *,
    key: str,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int = 64,
    store: EmbeddingStore | None,
    about: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Embeddings:
    """The pooled pre-logits features of ``images`` (uint8 N × C × H × W, on the host or on
    ``device``), row ``i`` for image ``i`` whose content hash is ``shas[i]``.

    Rows whose image is in ``store`` under ``key`` are read from it; only the others pass
    through the backbone (once per distinct hash), in batches through
    :class:`benchmark.data.Batches` (normalised with ``mean``/``std`` as training does),
    in eval mode under ``torch.inference_mode()`` and the device's autocast; they are then
    written to ``store`` as one shard (``about`` beside them, for the listing; features that
    are not all finite are not cached). The model is put on ``device`` as training puts it
    (:func:`benchmark.devices.prepare_for`); its train/eval mode is given back as found.
    ``progress(done, total)`` counts the images computed.
    """
    import torch

    start = time.perf_counter()
    if images.shape[0] != len(shas):
        raise ValueError(
            f"Expected one content hash per image, but got {len(shas)} hashes for "
            f"{images.shape[0]} images."
        )
    if not shas:
        width = int(getattr(model, "num_features", 0))
        empty = torch.empty((0, width))
        return Embeddings(features=empty, key=key, computed=0, reused=0, seconds=0.0)
    # one process computes a key's features while the others that need them wait, then read
    with store.computing(key) if store is not None else contextlib.nullcontext():
        found = store.lookup(key, shas) if store is not None else {}
        missing: dict[str, int] = {}  # hash → the first row showing that image
        for row, sha in enumerate(shas):
            if sha not in found and sha not in missing:
                missing[sha] = row
        computed: torch.Tensor | None = None
        if missing:
            computed = _compute(
                model,
                images,
                list(missing.values()),
                mean=mean,
                std=std,
                device=device,
                batch_size=batch_size,
                progress=progress,
            )
            if store is not None and bool(torch.isfinite(computed).all()):
                store.put(key, list(missing), computed.numpy(), about=about)
    features = _assemble(shas, found, missing, computed)
    return Embeddings(
        features=features,
        key=key,
        computed=len(missing),
        reused=sum(sha in found for sha in shas),
        seconds=time.perf_counter() - start,
    )


def _compute(
    model: nn.Module,
    images: torch.Tensor,
    rows: list[int],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int,
    progress: Progress | None,
) -> torch.Tensor:
    """Features of ``images[rows]``: float32, on the CPU."""
    import torch

    from benchmark.data import Batches
    from benchmark.devices import autocast, device_lock, layout, prepare_for
    from benchmark.models import features

    was_training = model.training
    channels_last = prepare_for(model, device)
    model.eval()
    labels = torch.zeros(len(images), dtype=torch.long)  # Batches yields labels: none here
    batches = Batches(
        images, labels, indices=rows, batch_size=batch_size, mean=mean, std=std, device=device
    )
    parts: list[torch.Tensor] = []
    done = 0
    try:
        # a GPU's latency is never timed while its images pass through the backbone
        with device_lock(device), torch.inference_mode(), autocast(device):
            for x, _ in batches:
                parts.append(features(model, layout(x, channels_last)).flatten(1).float())
                done += len(x)
                if progress is not None:
                    progress(done, len(rows))
    finally:
        model.train(was_training)
    return torch.cat(parts).cpu()  # one copy back at the end: no sync per batch


def _assemble(
    shas: Sequence[str],
    found: Mapping[str, tuple[np.ndarray, int]],
    missing: Mapping[str, int],
    computed: torch.Tensor | None,
) -> torch.Tensor:
    """N × D rows in ``shas``' order: one cached shard holding exactly these rows is handed
    over as its memory map; anything else is gathered into new memory."""
    import torch

    shards = {id(array): array for array, _ in found.values()}
    if not missing and len(shards) == 1:
        (array,) = shards.values()
        if len(array) == len(shas) and all(found[sha][1] == i for i, sha in enumerate(shas)):
            return torch.from_numpy(array)
    width = computed.shape[1] if computed is not None else next(iter(shards.values())).shape[1]
    out = np.empty((len(shas), width), dtype=np.float32)
    gather: dict[int, tuple[list[int], list[int]]] = {}
    fresh: tuple[list[int], list[int]] = ([], [])
    order = {sha: k for k, sha in enumerate(missing)}
    for i, sha in enumerate(shas):
        if sha in found:
            array, row = found[sha]
            to, source = gather.setdefault(id(array), ([], []))
        else:
            (to, source), row = fresh, order[sha]
        to.append(i)
        source.append(row)
    for ident, (to, source) in gather.items():
        out[to] = shards[ident][source]
    if computed is not None:
        out[fresh[0]] = computed.numpy()[fresh[1]]
    return torch.from_numpy(out)
