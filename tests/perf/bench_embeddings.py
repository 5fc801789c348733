"""Embedding ratios, printed in one run (not a test: absolute times are noisy, ratios hold).

    python -m tests.perf.bench_embeddings [--backbone resnet10t] [--images 512] [--size 112]

1. ``embed_images`` without a cache against a bare ``torch.inference_mode()`` loop over the
   same batches (``Batches``, eval mode, ``models.features``): what medbench's path costs
   (the issue asks for at least 0.9×);
2. the first call with a cache (computes and writes the shards) against no cache: what the
   writes cost;
3. a cached call against an uncached one: as a later process finds it (each shard's
   checksum verified once) and as a further trial of the same process does;
4. the store alone at a foundation model's scale (50,000 × 768 features, no backbone):
   writing one shard, reading it in a later process (checksum verified) and again.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from benchmark.data import Batches
from benchmark.devices import autocast, layout, prepare_for, resolve_device
from benchmark.embeddings import Embeddings, EmbeddingStore, _store, embed_images
from benchmark.models import create_model, features, input_stats


def bare_loop(model, images, *, mean, std, device, batch: int) -> torch.Tensor:
    """What one writes by hand: the same batches, eval mode, inference mode, autocast."""
    labels = torch.zeros(len(images), dtype=torch.long)
    batches = Batches(images, labels, indices=range(len(images)), batch_size=batch,
                      mean=mean, std=std, device=device)  # fmt: skip
    channels_last = prepare_for(model, device)
    model.eval()
    out = []
    with torch.inference_mode(), autocast(device):
        for x, _ in batches:
            out.append(features(model, layout(x, channels_last)).float())
    return torch.cat(out).cpu()


def timed(fn, *, repeats: int = 1) -> tuple[float, object]:
    """The fastest of ``repeats`` runs (the least disturbed by the machine's other work)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="resnet10t")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scale", type=int, nargs=2, default=(50_000, 768), metavar=("N", "D"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = create_model(args.backbone, num_classes=4)
    mean, std = input_stats(model)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8,
                           generator=generator)  # fmt: skip
    shas = [f"{i:064x}" for i in range(args.images)]
    n = args.images

    def ours(store: EmbeddingStore | None):
        return embed_images(model, images, shas, key="bench", mean=mean, std=std, device=device,
                            batch_size=args.batch_size, store=store)  # fmt: skip

    def bare():
        return bare_loop(model, images, mean=mean, std=std, device=device, batch=args.batch_size)

    bare()  # warm-up: allocator, oneDNN/cuDNN plans
    ours(None)
    bare_s = plain_s = float("inf")
    for _ in range(args.repeats):  # interleaved: a busy machine slows both alike
        seconds, reference = timed(bare)
        bare_s = min(bare_s, seconds)
        seconds, plain = timed(lambda: ours(None))
        plain_s = min(plain_s, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore(Path(tmp) / "embeddings")
        first_s, first = timed(lambda: ours(store))
        _store._VERIFIED.clear()  # as a later process: checksums verified again
        later_s, later = timed(lambda: ours(store))
        warm_s, warm = timed(lambda: ours(store), repeats=args.repeats)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.npy"))

    rows, width = args.scale
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore(Path(tmp) / "embeddings")
        big = torch.randn(rows, width, generator=generator).numpy()
        many = [f"{i:064x}" for i in range(rows)]
        write_s, _ = timed(lambda: store.put("scale", many, big))
        _store._VERIFIED.clear()
        read_s, found = timed(lambda: store.lookup("scale", many))
        again_s, _ = timed(lambda: store.lookup("scale", many), repeats=args.repeats)
        assert isinstance(found, dict) and len(found) == rows

    assert isinstance(plain, Embeddings)
    assert isinstance(later, Embeddings)
    assert isinstance(warm, Embeddings)
    assert isinstance(first, Embeddings) and isinstance(reference, torch.Tensor)
    gap = (plain.features - reference).abs().max().item()
    print(f"{args.backbone}, {n} images of {args.size} px, batch {args.batch_size}, on {device} "
          f"({torch.get_num_threads()} threads); features {tuple(plain.features.shape)}, "
          f"{size / 2**20:.1f} MiB on disk")  # fmt: skip
    print(f"  bare inference_mode loop     {bare_s:7.3f} s  ({n / bare_s:8.0f} img/s)")
    print(f"  embed_images, no cache       {plain_s:7.3f} s  ({n / plain_s:8.0f} img/s)")
    print(f"  embed_images, first (fills)  {first_s:7.3f} s  computed {first.computed}")
    print(f"  cached, a later process      {later_s:7.3f} s  computed {later.computed}")
    print(f"  cached, the same process     {warm_s:7.3f} s  computed {warm.computed}")
    print(f"embed_images runs at {bare_s / plain_s:.2f}× the bare loop's throughput "
          f"(largest difference of a feature: {gap:.1e})")  # fmt: skip
    print(f"the cache's writes cost {first_s / plain_s:.2f}× an uncached call")
    print(f"a cached call is {plain_s / later_s:.0f}× faster than computing (checksums "
          f"verified), {plain_s / warm_s:.0f}× in the same process")  # fmt: skip
    mib = rows * width * 4 / 2**20
    print(f"the store alone, {rows} × {width} float32 ({mib:.0f} MiB): write {write_s:.2f} s, "
          f"read in a later process {read_s:.2f} s (checksum verified), "
          f"again {again_s:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
