"""Data integrity: per-image facts, duplicates, group overlap, and the leaks they cause.

:func:`scan` decodes every image once (facts are cached by content) and records its size,
mode, perceptual hash, or why it cannot be read. :func:`duplicate_pairs` finds exact
(same bytes) and near duplicates (perceptual hashes within a Hamming distance).
:func:`link_groups` joins each image's group with its duplicates', so a random split can
never put two copies of an image, or two images of one patient, on both sides.
:func:`audit` reports what still crosses the splits (official splits are kept as published,
leaks and all) and which test images leak.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from benchmark.data.cache import FACT_COLUMNS, ImageCache
from benchmark.data.files import BadImage, decode_with_mode
from benchmark.data.layouts import Source
from benchmark.suite._schema import NEAR_DISTANCE

__all__ = ["AuditReport", "audit", "duplicate_pairs", "link_groups", "perceptual_hash", "scan"]

Progress = Callable[[int, int], None]
# NEAR_DISTANCE (bits apart, of 1280, for a near duplicate) was chosen with
# tests/perf/bench_duplicates.py: copies of a phantom (resized, blurred, cropped, shifted,
# re-exposed, saved as JPEG or 16-bit PNG) against distinct phantoms of one class, which all
# look alike as real scans do.
_SIDE = 64  # the framed thumbnail the hashes are taken from


def perceptual_hash(image: np.ndarray) -> str:
    """1280 bits as 320 hex digits: imagehash's pHash (16 × 16 DCT signs) and horizontal and
    vertical difference hashes (16 × 16 each) of the image framed on its content.

    Framing makes the hashes blind to shifts, crops of the background and resizing: the
    content (Otsu's threshold of the thumbnail) is centred on its centroid and scaled so
    that the disc of its area fills a set part of the frame, twice (the whole object for
    the pHash and a pair of difference hashes, its inside for another pair). Hashes of
    several kinds and framings, summed, tell look-alikes apart better than any one alone.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    centre, radius = _content(small)
    whole, inside = _framed(small, centre, radius, 0.8), _framed(small, centre, radius, 0.9)
    hashes = [imagehash.phash(whole, hash_size=16)]
    for framed in (inside, whole):
        hashes += [imagehash.dhash(framed, 16), imagehash.dhash_vertical(framed, 16)]
    return np.packbits(np.concatenate([h.hash.ravel() for h in hashes])).tobytes().hex()


def _content(small: np.ndarray) -> tuple[tuple[float, float], float]:
    """Centroid and equal-area radius of the foreground (the whole frame if none)."""
    _, mask = cv2.threshold(cv2.blur(small, (3, 3)), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] < 4:
        return (_SIDE / 2, _SIDE / 2), _SIDE / 2
    centre = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
    return centre, float(np.sqrt(moments["m00"] / np.pi))


def _framed(small: np.ndarray, centre: tuple[float, float], radius: float, fill: float):
    scale = fill * _SIDE / 2 / radius
    move = np.array(
        [[scale, 0, _SIDE / 2 - scale * centre[0]], [0, scale, _SIDE / 2 - scale * centre[1]]],
        dtype=np.float32,
    )
    framed = cv2.warpAffine(
        small, move, (_SIDE, _SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(framed)


def scan(
    source: Source,
    *,
    cache: ImageCache | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """One row per record: ``sha256``, ``width``, ``height``, ``mode``, ``phash`` and
    ``error`` (why the file cannot be used, else None). Decodes only what the cache lacks."""
    n = len(source)
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        shas = (source.rendered_keys() if source.render is not None
                else list(pool.map(_sha, [source] * n, range(n))))  # fmt: skip
    known = cache.facts(shas) if cache is not None else {}
    missing = [i for i, sha in enumerate(shas) if sha not in known]
    done = n - len(missing)
    if progress is not None:
        progress(done, n)
    fresh = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for row in pool.map(lambda i: _facts(source, i, shas[i]), missing):
            fresh.append(row)
            known[row[0]] = row
            done += 1
            if progress is not None:
                progress(done, n)
    if cache is not None and fresh:
        cache.put_facts(fresh)
    rows = [known[sha] for sha in shas]
    return pd.DataFrame(rows, columns=list(FACT_COLUMNS), dtype=object)


def _sha(source: Source, i: int) -> str:
    try:
        return source.content(i)[0]
    except OSError as exc:  # unreadable: a key of its own, so it is decoded (and reported)
        return f"unreadable:{source.records['path'].iat[i]}:{exc.errno}"


def _facts(source: Source, i: int, sha: str) -> tuple:
    try:
        if source.render is not None:
            image, _ = source.render(i)
            mode = "L" if image.ndim == 2 else "RGB"
        else:
            with open(source.records["path"].iat[i], "rb") as f:
                image, mode = decode_with_mode(f.read(), dicom=source.dicom)
    except (BadImage, OSError) as exc:
        return (sha, None, None, None, None, str(exc) or type(exc).__name__)
    height, width = image.shape[:2]
    return (sha, width, height, mode, perceptual_hash(image), None)


def duplicate_pairs(facts: pd.DataFrame, *, near_distance: int = NEAR_DISTANCE) -> pd.DataFrame:
    """Pairs of positions ``a < b`` whose images are exact (same bytes, ``distance`` -1) or
    near duplicates (perceptual hashes at most ``near_distance`` bits apart), found by
    matrix products over blocks of rows (no loop over pairs in Python)."""
    ok = facts.index[facts["error"].isna()].to_numpy()
    pairs = []
    for _, members in facts.loc[ok].groupby("sha256").groups.items():
        members = np.sort(np.asarray(members))
        pairs += [(members[0], m, -1) for m in members[1:]]
    if near_distance >= 0 and len(ok) > 1:
        packed = np.frombuffer(bytes.fromhex("".join(facts.loc[ok, "phash"])), np.uint8)
        packed = packed.reshape(len(ok), -1)  # the hashes stay packed: 160 bytes an image
        width = packed.shape[1] * 8
        sha = facts.loc[ok, "sha256"].to_numpy()
        for start in range(0, len(ok), _ROWS):
            rows_signs = _signs(packed[start : start + _ROWS])
            for other in range(start, len(ok), _COLS):  # the upper triangle of blocks only
                block = (width - rows_signs @ _signs(packed[other : other + _COLS]).T) / 2
                rows, cols = np.nonzero(block <= near_distance)
                distance = block[rows, cols]
                rows, cols = rows + start, cols + other
                keep = (cols > rows) & (sha[rows] != sha[cols])
                pairs += [
                    (ok[r], ok[c], int(d))
                    for r, c, d in zip(rows[keep], cols[keep], distance[keep], strict=True)
                ]
    return pd.DataFrame(pairs, columns=["a", "b", "distance"], dtype=int)


_ROWS, _COLS = 1024, 8192  # blocks of hashes compared at once (memory bounded by these)


def _signs(packed: np.ndarray) -> np.ndarray:
    """±1 per bit, so that Hamming distance = (bits − a·b) / 2."""
    return np.unpackbits(packed, axis=1).astype(np.float32) * 2 - 1


def link_groups(records: pd.DataFrame, pairs: pd.DataFrame) -> pd.Series:
    """Each record's split group: its own group joined with those of its duplicates."""
    n = len(records)
    codes = pd.factorize(records["group"])[0]
    first = pd.Series(np.arange(n)).groupby(codes).transform("first").to_numpy()
    a = np.concatenate([np.arange(n), pairs["a"].to_numpy()])
    b = np.concatenate([first, pairs["b"].to_numpy()])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return pd.Series(component, index=records.index, name="split_group")


@dataclass
class AuditReport:
    """What the audit found, in the shape ``--format json`` prints."""

    images: int
    bad_files: list[dict[str, str]] = field(default_factory=list)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    group_overlap: list[dict[str, Any]] = field(default_factory=list)
    test_leaks: list[str] = field(default_factory=list)
    label_conflicts: list[list[str]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    odd_images: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The headline numbers (logged as ``data/*`` metrics)."""
        exact = [d for d in self.duplicates if d["kind"] == "exact"]
        return {
            "images": self.images,
            "bad_files": len(self.bad_files),
            "exact_duplicate_sets": len(exact),
            "near_duplicate_sets": len(self.duplicates) - len(exact),
            "duplicate_sets_across_splits": sum(len(d["splits"]) > 1 for d in self.duplicates),
            "groups_across_splits": len(self.group_overlap),
            "test_leaks": len(self.test_leaks),
            "label_conflicts": len(self.label_conflicts),
            "odd_images": len(self.odd_images),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), **self.__dict__}


def audit(
    records: pd.DataFrame,
    split: pd.Series,
    *,
    facts: pd.DataFrame,
    pairs: pd.DataFrame,
    bad_files: list[dict[str, str]] | None = None,
    notes: list[str] | tuple[str, ...] = (),
    groups: pd.Series | None = None,
    targets: np.ndarray | None = None,
    classes: list[str] | None = None,
) -> AuditReport:
    """Check a split dataset: duplicates within and across splits, patient groups across
    splits, test images that leak, class balance, odd sizes and modes. ``groups`` is
    :func:`link_groups` of the records when the caller has it already. A multi-label
    dataset gives its ``targets`` and ``classes``: the balance is then per label present."""
    split = pd.Series(split.to_numpy(), index=records.index)
    report = AuditReport(images=len(records), bad_files=list(bad_files or []), notes=list(notes))
    if targets is not None:
        present = pd.DataFrame(np.asarray(targets) == 1.0, columns=classes, index=records.index)
        table = present.groupby(split).sum()
    else:
        table = pd.crosstab(split, records["label"])
    report.splits = {s: {k: int(v) for k, v in row.items()} for s, row in table.iterrows()}

    linked = link_groups(records.assign(group=records["id"]), pairs)  # duplicates only
    for _, members in records.groupby(linked.to_numpy()).groups.items():
        if len(members) < 2:
            continue
        exact = facts.loc[members, "sha256"].nunique() == 1
        report.duplicates.append(
            {
                "kind": "exact" if exact else "near",
                "splits": sorted(set(split[members])),
                "images": [
                    {"id": records.at[m, "id"], "split": split[m], "label": records.at[m, "label"]}
                    for m in members
                ],
            }
        )
        if records.loc[members, "label"].nunique() > 1:
            report.label_conflicts.append(list(records.loc[members, "id"]))

    own = records["group"] != records["id"]  # groups the layout knows (patients, regions)
    for group, members in records[own].groupby("group").groups.items():
        splits = sorted(set(split[members]))
        if len(splits) > 1:
            report.group_overlap.append({"group": group, "splits": splits, "images": len(members)})

    both = link_groups(records, pairs) if groups is None else groups  # patients + duplicates
    seen = both[split.isin(["train", "val"])]
    report.test_leaks = list(records.loc[(split == "test") & both.isin(set(seen)), "id"])

    sizes = facts["width"].astype(int).astype(str) + "x" + facts["height"].astype(int).astype(str)
    report.sizes = {k: int(v) for k, v in sizes.value_counts().head(10).items()}
    report.modes = {k: int(v) for k, v in facts["mode"].value_counts().items()}
    report.odd_images = _odd_images(records, facts)
    return report


def _odd_images(records: pd.DataFrame, facts: pd.DataFrame) -> list[dict[str, str]]:
    """Images much smaller than the dataset's median, very elongated, or in a rare mode."""
    width, height = facts["width"].astype(float), facts["height"].astype(float)
    median_side = float(np.median(np.minimum(width, height)))
    modes = facts["mode"].value_counts(normalize=True)
    odd = []
    for i in records.index:
        w, h, mode = width[i], height[i], facts.at[i, "mode"]
        reasons = []
        if min(w, h) < median_side / 4:
            reasons.append(f"small ({int(w)}×{int(h)}, median side {median_side:.0f})")
        if max(w, h) > 3 * min(w, h):
            reasons.append(f"elongated ({int(w)}×{int(h)})")
        if modes[mode] < 0.05:
            reasons.append(f"rare mode {mode}")
        if reasons:
            odd.append({"id": records.at[i, "id"], "why": "; ".join(reasons)})
    return odd
