"""MedMNIST (v2 and MedMNIST+): the official ``.npz`` files as downloaded, lying flat in the
root (``pathmnist.npz`` at 28 px, ``pathmnist_224.npz`` above). The writer of a fake file,
then the reader.

Each file holds ``{train,val,test}_images`` (N × H × W, or N × H × W × 3, uint8) and
``{train,val,test}_labels`` (N × 1 class indices, or N × 14 findings for ChestMNIST); the
label names, task, channels and split sizes come from MedMNIST's ``INFO``
(:mod:`benchmark.data.medmnist`) and a file that disagrees is refused, naming what differs.
Images are read through memory maps of the arrays unpacked once into the cache
(:mod:`benchmark.data.npz`): a dataset never needs to fit in memory. Record ids are
``{split}/{row:06d}``, ``row`` the image's row in the file (MedMNIST's own order).

A dataset of this layout gets its task from ``INFO`` unless the suite states one: binary
with ``positive`` the class of label 1 (PneumoniaMNIST ``pneumonia``, BreastMNIST
``normal benign``, as MedMNIST scores them), ordinal in label order (RetinaMNIST's grades
0–4), multi-label for ChestMNIST, else multiclass.
"""

from __future__ import annotations

import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from benchmark.data import medmnist as mm
from benchmark.data.layouts._base import LayoutOptions, Source, register
from benchmark.data.layouts._labels import label_summary
from benchmark.data.layouts._synth import PhantomWriter
from benchmark.data.npz import headers, load_small, npz_key, unpacked
from benchmark.data.phantoms import render_phantom
from benchmark.errors import DataError

__all__ = [
    "MedmnistOptions",
    "default_task",
    "find_files",
    "inventory",
    "read_labels",
    "write_fake_file",
]

SPLITS = ("train", "val", "test")
_FILE = re.compile(r"^([a-z]+mnist)(?:_(64|128|224))?\.npz$")


class MedmnistOptions(LayoutOptions):
    flag: str | None = Field(
        None,
        description="the dataset, e.g. pathmnist or chestmnist (default: the only MedMNIST "
        "file of `size` in the root)",
    )
    size: Literal[28, 64, 128, 224] = Field(28, description="image size: 28, 64, 128 or 224")
    rgb: bool = Field(False, description="make grey datasets 3-channel (colour ones are already)")

    @field_validator("flag")
    @classmethod
    def _known_flag(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                mm.info(value)
            except DataError as exc:
                raise ValueError(str(exc)) from None
        return value


def find_files(root: Path) -> list[tuple[Path, str, int]]:
    """Every MedMNIST file under ``root`` (its subfolders too): ``(path, flag, size)``,
    by flag in ``INFO``'s order then size."""
    order = {flag: i for i, flag in enumerate(mm.flags())}
    found = []
    for path in root.rglob("*.npz"):
        match = _FILE.match(path.name)
        if match and match.group(1) in order and path.is_file():
            found.append((path, match.group(1), int(match.group(2) or 28)))
    return sorted(found, key=lambda f: (order[f[1]], f[2], str(f[0])))


def _flag(root: Path, options: MedmnistOptions) -> str:
    if options.flag is not None:
        return options.flag
    here = sorted({flag for path, flag, size in find_files(root)
                   if size == options.size and path.parent == root})  # fmt: skip
    if len(here) != 1:
        raise DataError(
            f"{root}: options.flag is not set and the folder holds "
            + (f"{len(here)} MedMNIST files at {options.size} px ({', '.join(here)})"
               if here else f"no MedMNIST file at {options.size} px")
            + "; set `options.flag` (e.g. pathmnist) and `options.size`."
        )  # fmt: skip
    return here[0]


def default_task(root: Path | None, options: MedmnistOptions) -> dict[str, Any] | None:
    """The task ``INFO`` gives the dataset (None where the flag cannot be known yet)."""
    try:
        flag = options.flag or (_flag(root, options) if root is not None else None)
    except (DataError, OSError):
        return None
    if flag is None:
        return None
    kind, names = mm.task_kind(flag), mm.labels(flag)
    if kind == "binary":
        return {"kind": "binary", "positive": names[1]}
    if kind == "ordinal":
        return {"kind": "ordinal", "order": names}
    return {"kind": kind}


def check_file(path: Path, flag: str, size: int) -> None:
    """Refuse a file whose arrays disagree with ``INFO`` (a truncated, damaged or foreign
    file) in one line naming the file and what differs."""
    entry = mm.info(flag)
    found = headers(path)
    wanted = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    missing = [name for name in wanted if name not in found]
    if missing:
        raise DataError(
            f"{path} is not a MedMNIST file: it lacks {missing} (it holds {sorted(found)}). "
            "Fetch it again."
        )
    channels, labels = entry["n_channels"], len(entry["label"])
    image_shape = (size, size) if channels == 1 else (size, size, 3)
    label_width = labels if mm.task_kind(flag) == "multilabel" else 1
    problems = []
    for split in SPLITS:
        n = entry["n_samples"][split]
        images, targets = found[f"{split}_images"], found[f"{split}_labels"]
        if images.shape != (n, *image_shape) or images.dtype != np.uint8:
            problems.append(f"{split}_images is {images.dtype} {images.shape}, "
                            f"expected uint8 {(n, *image_shape)}")  # fmt: skip
        if targets.shape != (n, label_width):
            problems.append(f"{split}_labels is {targets.shape}, expected {(n, label_width)}")
    if problems:
        raise DataError(
            f"{path} does not match MedMNIST's {flag} at {size} px: " + "; ".join(problems)
            + ". A truncated or foreign file? Fetch it again."
        )  # fmt: skip


def read_labels(path: Path, flag: str) -> dict[str, np.ndarray]:
    """Each split's labels (N × 1 or N × L), checked to lie within the dataset's labels."""
    width = len(mm.labels(flag))
    out = {}
    for split in SPLITS:
        values = load_small(path, f"{split}_labels")
        top = 1 if values.shape[1] > 1 else width - 1
        if values.size and (values.min() < 0 or values.max() > top):
            raise DataError(
                f"{path}: {split}_labels holds values from {values.min()} to {values.max()}, "
                f"expected 0 to {top} ({flag} has {width} labels). A foreign file?"
            )
        out[split] = values
    return out


# --- fake files -----------------------------------------------------------------------


def write_npz(path: Path, arrays: dict[str, tuple[tuple[int, ...], Iterable[np.ndarray]]],
              *, compress: bool = False) -> None:  # fmt: skip
    """An ``.npz`` of uint8 arrays written piece by piece (``name: (shape, chunks)``, the
    chunks filling the array in row order), so a fake of many gigabytes never lies whole
    in memory."""
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=mode, allowZip64=True) as archive:
        for name, (shape, chunks) in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                header = {"descr": "|u1", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(out, header)
                for chunk in chunks:
                    out.write(np.ascontiguousarray(chunk, dtype=np.uint8).tobytes())


# draw(start, split, n): the images and labels of rows start to start + n of a split
Draw = Callable[[int, str, int], tuple[np.ndarray, np.ndarray]]


def noise(flag: str, size: int, *, seed: int = 0) -> Draw:
    """Random images and labels of ``flag``'s shape (every class or label in every split)."""
    width, channels = len(mm.labels(flag)), mm.info(flag)["n_channels"]
    multilabel = mm.task_kind(flag) == "multilabel"

    def draw(start: int, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([seed, SPLITS.index(split), start])
        shape = (n, size, size) if channels == 1 else (n, size, size, 3)
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            labels = (rng.random((n, width)) < 0.2).astype(np.uint8)
            labels[np.arange(n), (start + np.arange(n)) % width] = 1
        else:
            labels = ((start + np.arange(n)) % width).astype(np.uint8)[:, None]
        return images, labels

    return draw


def write_fake_file(root: Path, flag: str, size: int = 28, *, draw: Draw | None = None,
                    seed: int = 0, compress: bool = False, chunk: int = 2048) -> Path:  # fmt: skip
    """Write ``root/<file_name(flag, size)>`` with ``INFO``'s split sizes, its images and
    labels from ``draw`` (default: :func:`noise`), ``chunk`` images at a time."""
    draw = draw or noise(flag, size, seed=seed)
    entry, path = mm.info(flag), root / mm.file_name(flag, size)
    channels, width = entry["n_channels"], len(entry["label"])
    width = width if mm.task_kind(flag) == "multilabel" else 1
    arrays: dict[str, tuple[tuple[int, ...], Iterable[np.ndarray]]] = {}
    for split in SPLITS:
        n = entry["n_samples"][split]
        shape = (n, size, size) if channels == 1 else (n, size, size, 3)
        kept: list[np.ndarray] = []  # each chunk's labels, written after the images
        arrays[f"{split}_images"] = (shape, _images(draw, split, n, chunk, kept))
        arrays[f"{split}_labels"] = ((n, width), _kept(kept))
    write_npz(path, arrays, compress=compress)
    return path


def _images(draw: Draw, split: str, n: int, chunk: int,
            kept: list[np.ndarray]) -> Iterator[np.ndarray]:  # fmt: skip
    for start in range(0, n, chunk):
        images, labels = draw(start, split, min(chunk, n - start))
        kept.append(labels)
        yield images


def _kept(kept: list[np.ndarray]) -> Iterator[np.ndarray]:
    yield from kept


# The writer's dataset: RetinaMNIST at 28 px (1600 colour images, five grades), phantoms
# standing in for its grades (told apart by their class and tint).
_FAKE_FLAG = "retinamnist"
_PHANTOMS = ("notumor", "glioma", "meningioma", "pituitary", "glioma")


def _tinted(image: np.ndarray, k: int) -> np.ndarray:
    colour = np.array([(1.0, 0.8, 0.7), (1.0, 0.7, 0.8), (0.9, 0.8, 1.0), (0.8, 1.0, 0.8),
                       (1.0, 1.0, 0.7)][k], dtype=np.float32)  # fmt: skip
    return np.clip(image[..., None] * colour, 0, 255).astype(np.uint8)


def write_medmnist(w: PhantomWriter) -> None:
    """retinamnist.npz (28 px, INFO's split sizes) of colour phantoms, compressed as
    MedMNIST publishes its files; the reader finds them in the official splits."""
    entry = mm.info(_FAKE_FLAG)
    names = mm.labels(_FAKE_FLAG)
    k_max = len(names)
    w.expect(sum(entry["n_samples"].values()))
    offsets = {"train": 0, "val": 100_000, "test": 200_000}

    def draw(start: int, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        grades = [k % k_max for k in range(start, start + n)]
        images = np.stack([
            _tinted(render_phantom(offsets[split] + start + j, seed=w.seed, size=28,
                                   difficulty=w.difficulty, label=_PHANTOMS[g]).image, g)
            for j, g in enumerate(grades)
        ])  # fmt: skip
        for g in grades:
            w.found(names[g], split=split)
        return images, np.array(grades, dtype=np.uint8)[:, None]

    write_fake_file(w.out, _FAKE_FLAG, 28, draw=draw, compress=True)


@register("medmnist", options=MedmnistOptions, writer=write_medmnist, task=default_task)
def medmnist(root: Path, options: MedmnistOptions) -> Source:
    """MedMNIST: {flag}.npz / {flag}_{size}.npz as downloaded; official split, INFO's labels."""
    import pandas as pd

    flag, size = _flag(root, options), options.size
    path = root / mm.file_name(flag, size)
    if not path.is_file():
        others = [p.name for p, _, _ in find_files(root) if p.parent == root]
        raise DataError(
            f"{path} does not exist (MedMNIST's {flag} at {size} px); the folder holds "
            f"{others or 'no MedMNIST file'}. Fetch it with `medbench data fetch medmnist "
            f"{flag} --size {size}`, or set `options.flag`/`options.size`."
        )
    check_file(path, flag, size)
    labels = read_labels(path, flag)
    names = mm.labels(flag)
    sizes = [len(labels[s]) for s in SPLITS]
    split = np.repeat(np.arange(len(SPLITS)), sizes)
    row = np.concatenate([np.arange(n) for n in sizes])
    ids = [f"{SPLITS[s]}/{r:06d}" for s, r in zip(split, row, strict=True)]
    stacked = np.concatenate([labels[s] for s in SPLITS])
    multilabel = stacked.shape[1] > 1
    targets = stacked.astype(np.float32) if multilabel else None
    label = (label_summary(targets, names) if targets is not None
             else [names[k] for k in stacked[:, 0]])  # fmt: skip
    records = pd.DataFrame({"id": ids, "label": label, "split": np.array(SPLITS)[split],
                            "group": ids, "path": "", "mask": ""})  # fmt: skip
    grey = mm.info(flag)["n_channels"] == 1
    rgb = options.rgb and grey

    def render(i: int) -> tuple[np.ndarray, None]:
        image = np.array(_parts()[split[i]][row[i]])  # one image copied out of the map
        return (np.repeat(image[..., None], 3, axis=2) if rgb else image), None

    parts: list[np.ndarray] = []
    lock = threading.Lock()

    def _parts() -> list[np.ndarray]:
        """The images, unpacked into the cache when first read (not by a dry run or a
        preflight, which only read the labels and the headers)."""
        with lock:
            if not parts:
                from benchmark.settings import cache_home

                images = unpacked(path, [f"{s}_images" for s in SPLITS], cache=cache_home())
                parts.extend(images[f"{s}_images"] for s in SPLITS)
        return parts

    fingerprint = f"medmnist:{flag}:{size}:{'rgb' if rgb else 'own'}:{npz_key(path)}"
    classes = names if multilabel else sorted(names)
    return Source(records, classes, render=render, fingerprint=fingerprint, targets=targets)


def inventory(root: Path) -> list[dict[str, Any]]:
    """Every MedMNIST file under ``root``: its flag, size, task, and images per split and
    class (per label present for ChestMNIST), read from the labels and the arrays' headers
    alone; a file that does not match ``INFO`` says why under ``problem``."""
    out = []
    for path, flag, size in find_files(root):
        entry: dict[str, Any] = {
            "file": path.relative_to(root).as_posix(), "flag": flag, "size": size,
            "task": mm.task_kind(flag), "channels": mm.info(flag)["n_channels"],
            "licence": mm.info(flag).get("license", ""), "images": {}, "splits": {},
            "problem": None,
        }  # fmt: skip
        try:
            check_file(path, flag, size)
            names = mm.labels(flag)
            for split, values in read_labels(path, flag).items():
                per = (values.sum(axis=0) if values.shape[1] > 1
                       else np.bincount(values[:, 0], minlength=len(names)))  # fmt: skip
                entry["images"][split] = len(values)
                entry["splits"][split] = {n: int(k) for n, k in zip(names, per, strict=True)}
        except DataError as exc:
            entry["problem"] = str(exc)
        out.append(entry)
    return out
