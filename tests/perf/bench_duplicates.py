"""Near-duplicate recall and precision of the audit, on copies against distinct look-alikes.

    python -m tests.perf.bench_duplicates [--distinct 2000] [--copies 1000] [--size 256]

Distinct images are phantoms of one class (``notumor`` by default: heads without a lesion,
all alike as real scans are, so the hard case); copies are re-encoded versions of some of
them, each through a random chain of what happens to images passed around: resized by
1-10 %, Gaussian blur (sigma 0.3-1.5), cropped (up to 3 % a side), shifted (up to 2 % of
the side), brightness and contrast (±15 %, ±15 levels), then saved as PNG, as JPEG
(quality 50-95) or as 16-bit PNG. Every file goes through the real path: ``decode_image``,
then the audit's ``perceptual_hash`` and ``duplicate_pairs`` (the vectorised search).

Printed: per threshold, the recall (copies whose duplicate set holds their original, which
is what keeps a split clean) and the false pairs (pairs of distinct phantoms flagged); the
per-image cost of today's hash (a 256-bit DCT hash of the whole frame, kept here as the
baseline) and of the audit's, each with decoding, on the same files; recall per kind of
change at the default threshold.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import cv2
import numpy as np
import pandas as pd

from benchmark.data.audit import NEAR_DISTANCE, duplicate_pairs, link_groups, perceptual_hash
from benchmark.data.files import decode_image
from benchmark.data.phantoms import CLASSES, render_phantom

CHANGES = ("resize", "blur", "crop", "shift", "light")


def encode(image: np.ndarray, form: str, rng: np.random.Generator) -> bytes:
    if form == "jpeg":
        quality = int(rng.integers(50, 96))
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    if form == "png16":
        return cv2.imencode(".png", image.astype(np.uint16) * 257)[1].tobytes()
    return cv2.imencode(".png", image)[1].tobytes()


def changed(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A copy of ``image`` through a random chain of the ``CHANGES`` (at least one)."""
    kinds = [k for k in CHANGES if rng.random() < 0.5] or [str(rng.choice(CHANGES))]
    out = image.astype(np.float32)
    for kind in rng.permutation(kinds):
        h, w = out.shape
        if kind == "resize":
            f = 1 + rng.choice([-1, 1]) * rng.uniform(0.01, 0.10)
            area = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
            out = cv2.resize(out, (round(w * f), round(h * f)), interpolation=area)
        elif kind == "blur":
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.5))
        elif kind == "crop":
            t, b = (int(rng.integers(0, round(0.03 * h) + 1)) for _ in range(2))
            left, right = (int(rng.integers(0, round(0.03 * w) + 1)) for _ in range(2))
            out = out[t : h - b, left : w - right]
        elif kind == "shift":
            dx, dy = (
                int(rng.choice([-1, 1]) * rng.integers(1, round(0.02 * s) + 1)) for s in (w, h)
            )
            move = np.float32([[1, 0, dx], [0, 1, dy]])
            out = cv2.warpAffine(out, move, (w, h), borderMode=cv2.BORDER_REPLICATE)
        else:
            out = out * rng.uniform(0.85, 1.15) + rng.uniform(-15, 15)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), kinds


def make_benchmark(
    *, distinct: int, copies: int, size: int, seed: int = 0, label: str = "notumor"
) -> tuple[list[bytes], pd.DataFrame]:
    """Files (PNG originals of class ``label``, then copies) and a table of each file's
    ``origin`` (the original's position) and the ``changes`` a copy went through."""
    rng = np.random.default_rng(seed)
    originals = [
        render_phantom(i, seed=seed, size=size, label=label).image for i in range(distinct)
    ]
    files = [encode(image, "png", rng) for image in originals]
    rows = [{"origin": i, "changes": ""} for i in range(distinct)]
    for _ in range(copies):
        i = int(rng.integers(distinct))
        image, kinds = changed(originals[i], rng)
        form = str(rng.choice(["png", "jpeg", "png16"]))
        files.append(encode(image, form, rng))
        rows.append({"origin": i, "changes": "+".join([*kinds, form])})
    return files, pd.DataFrame(rows)


def facts_of(files: list[bytes], hash_fn=perceptual_hash) -> pd.DataFrame:
    """The audit's facts (sha256, phash, error) of each file."""
    hashes = [hash_fn(decode_image(data)) for data in files]
    sha = [hashlib.sha256(data).hexdigest() for data in files]
    return pd.DataFrame({"sha256": sha, "phash": hashes, "error": None})


def per_image(files: list[bytes], hash_fn, *, repeats: int = 5) -> float:
    """Seconds to decode and hash one file: the best of ``repeats`` passes (the least
    disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for data in files:
            hash_fn(decode_image(data))
        best = min(best, (time.perf_counter() - start) / len(files))
    return best


def evaluate(facts: pd.DataFrame, table: pd.DataFrame, *, near_distance: int) -> dict[str, float]:
    """Recall (copies linked to their original) and false pairs (distinct origins)."""
    pairs = duplicate_pairs(facts, near_distance=near_distance)
    origin = table["origin"].to_numpy()
    false = int((origin[pairs["a"]] != origin[pairs["b"]]).sum())
    groups = link_groups(pd.DataFrame({"group": np.arange(len(table))}), pairs).to_numpy()
    copies = np.flatnonzero(table["changes"] != "")
    found = groups[copies] == groups[origin[copies]]
    return {"recall": float(found.mean()) if len(copies) else 1.0, "false_pairs": false}


def found_per_change(facts: pd.DataFrame, table: pd.DataFrame, *, near_distance: int) -> dict:
    pairs = duplicate_pairs(facts, near_distance=near_distance)
    groups = link_groups(pd.DataFrame({"group": np.arange(len(table))}), pairs).to_numpy()
    origin = table["origin"].to_numpy()
    out = {}
    for kind in (*CHANGES, "png", "jpeg", "png16"):
        rows = np.flatnonzero(table["changes"].str.split("+").map(lambda k, kind=kind: kind in k))
        if len(rows):
            out[kind] = float((groups[rows] == groups[origin[rows]]).mean())
    return out


def baseline_hash(image: np.ndarray) -> str:
    """The audit's hash before this benchmark: a 256-bit DCT hash of the whole frame."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:16, :16]
    return np.packbits((low > np.median(low)).ravel()).tobytes().hex()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--distinct", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="notumor", choices=CLASSES)
    parser.add_argument("--timed", type=int, default=300, help="files timed")
    args = parser.parse_args()
    files, table = make_benchmark(
        distinct=args.distinct, copies=args.copies, size=args.size, seed=args.seed,
        label=args.label,
    )  # fmt: skip
    print(f"{args.distinct} distinct {args.label} phantoms, {args.copies} copies, {args.size} px")
    sample = files[: args.timed]
    old_s, new_s = per_image(sample, baseline_hash), per_image(sample, perceptual_hash)
    print(f"per image (decode + hash, best of 5 passes over {len(sample)} files): "
          f"baseline {old_s * 1e3:.2f} ms, audit {new_s * 1e3:.2f} ms, "
          f"ratio {new_s / old_s:.2f}")  # fmt: skip
    old, new = facts_of(files, baseline_hash), facts_of(files)
    for name, facts, thresholds in (
        ("baseline, 256 bits", old, (10, 12, 14, 16, 20)),
        ("audit, 1280 bits", new, (72, 80, 88, 92, NEAR_DISTANCE, 100, 104, 112)),
    ):
        for t in sorted(set(thresholds)):
            result = evaluate(facts, table, near_distance=t)
            mark = " (default)" if name.startswith("audit") and t == NEAR_DISTANCE else ""
            print(f"{name} <= {t}{mark}: recall {result['recall']:.4f}, "
                  f"false pairs {result['false_pairs']}")  # fmt: skip
    per = found_per_change(new, table, near_distance=NEAR_DISTANCE)
    print("recall per change at the default:", {k: round(v, 4) for k, v in per.items()})


if __name__ == "__main__":
    main()
