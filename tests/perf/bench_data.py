"""Data-loading ratios, printed in one run (not a test: absolute times are noisy).

    python -m tests.perf.bench_data [--per-class 150] [--size 512] [--image-size 200]

On a fake Brain Tumor MRI tree written at the dataset's typical size, with the brain
paper's preprocessing (crop to the contour, bilateral filter, bone colormap, resize):
1. the first load (decode + ops + cache write) against a second, cached load;
2. the integrity scan (decode + perceptual hash) uncached against cached;
3. the first load against a load with no cache at all (what the cache's writes cost).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmark.data import ImageCache, create_source, load_images, parse_op, scan, write_synthetic

OPS = ["crop_brain_contour", {"bilateral": {"d": 2}}, {"colormap": "bone"}, {"resize": 200}]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=200)
    args = parser.parse_args()
    ops = [parse_op(op) for op in OPS]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "brain-tumor-mri"
        write_synthetic(root, per_class=args.per_class, size=args.size, seed=0)
        source = create_source("brain-tumor-mri", root)
        n = len(source)
        cache = ImageCache(Path(tmp) / "cache")

        plain, _ = timed(lambda: load_images(source, ops=ops, size=args.image_size))
        first, _ = timed(lambda: load_images(source, ops=ops, size=args.image_size, cache=cache))
        second, _ = timed(lambda: load_images(source, ops=ops, size=args.image_size, cache=cache))
        scan_cold, _ = timed(lambda: scan(source, cache=cache))
        scan_warm, _ = timed(lambda: scan(source, cache=cache))

    print(f"{n} JPEGs of {args.size} px, ops {OPS}, final size {args.image_size} px")
    print(f"  load, no cache         {plain:7.2f} s  ({n / plain:6.0f} img/s)")
    print(f"  load, first (fills)    {first:7.2f} s  ({n / first:6.0f} img/s)")
    print(f"  load, cached           {second:7.2f} s  ({n / second:6.0f} img/s)")
    print(f"  audit scan, uncached   {scan_cold:7.2f} s")
    print(f"  audit scan, cached     {scan_warm:7.2f} s")
    print(f"cached load is {first / second:.1f}× faster than the first")
    print(f"the cache's writes cost {first / plain:.2f}× an uncached load")
    print(f"a cached audit scan is {scan_cold / scan_warm:.1f}× faster")


if __name__ == "__main__":
    main()
