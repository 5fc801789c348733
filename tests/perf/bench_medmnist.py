"""The medmnist layout's read throughput against numpy slicing of the same arrays, and the
peak memory of ``medbench data inspect`` and of a training epoch on fakes of 1 and 8 GB of
pixels, printed in one run.

    python -m tests.perf.bench_medmnist throughput [--size 28] [--images 20000]
    python -m tests.perf.bench_medmnist memory --workdir DIR [--gb 1 8] [--steps 20]
    python -m tests.perf.bench_medmnist overhead

``overhead`` runs the quickstart's two cells (test_resnet, test_efficientnet; 16 epochs,
Grad-CAM) at 28 px on RetinaMNIST's 1600 images as ``medbench data synth --layout
medmnist`` writes them, under a profiler, and prints each cell's share of time spent
outside training (``time/train_s``) and what takes it. The first cell in a process also
pays what a process does once (MLflow's scan of the installed packages when it first logs
a model, the first imports of the explanation libraries).

Fakes are PathMNIST files of random pixels written by the layout's own helper, with INFO's
split sizes scaled to the number of images asked for (the reader checks the file against
the scaled INFO, as against the real one). ``memory`` writes each fake under ``--workdir``
(about three times its size on disk: the file, its arrays unpacked, the prepared set),
measures each step in a fresh process (its peak resident memory, and the peak of its
anonymous part: what must fit in RAM, while mapped file pages are the kernel's to drop) and
deletes the fakes. An epoch's peak is that of the index, audit and image set (each image
read once) and of a few steps (each gathers one batch): more steps gather more batches of
the same size.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

FLAG = "pathmnist"


_INFO: list[dict] = []  # INFO as the package gives it, kept before it is scaled


def _scale(images: int) -> None:
    """INFO of PathMNIST with ``images`` in all, in its own split proportions."""
    from benchmark.data import medmnist as mm

    if not _INFO:
        _INFO.append(copy.deepcopy(mm._table()))
    table = copy.deepcopy(_INFO[0])
    counts = table[FLAG]["n_samples"]
    total = sum(counts.values())
    table[FLAG]["n_samples"] = {k: max(1, round(v * images / total)) for k, v in counts.items()}
    mm._table = lambda: table  # type: ignore[method-assign]


def _images_for(gb: float, size: int) -> int:
    return int(gb * 2**30 / (size * size * 3))


class _Peak:
    """Samples ``/proc/self/status`` every few milliseconds: peak resident memory (VmHWM)
    and the peak of its anonymous part (RssAnon)."""

    def __init__(self) -> None:
        self.anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _status() -> dict[str, int]:
        out = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                out[key] = int(value.split()[0]) * 1024
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.anon = max(self.anon, self._status().get("RssAnon", 0))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        status = self._status()
        self.anon = max(self.anon, status.get("RssAnon", 0))
        return {"peak_rss_mb": status["VmHWM"] / 2**20, "peak_anon_mb": self.anon / 2**20}


def _child(step: str, root: Path, images: int, size: int, steps: int) -> dict:
    _scale(images)
    peak = _Peak()
    out: dict = {}
    if step == "none":  # what every step imports
        import torch

        import benchmark.data.layouts  # noqa: F401
    elif step == "inspect":
        from benchmark.cli import app

        with contextlib.redirect_stdout(io.StringIO()):
            app(["data", "inspect", str(root), "--layout", "medmnist", "--format", "json"],
                standalone_mode=False)  # fmt: skip
    elif step == "epoch":
        import torch

        from benchmark.data import Batches, default_cache, index_dataset, load_images
        from benchmark.models import create_model, input_stats
        from benchmark.suite._schema import AuditConfig, DatasetConfig

        config = DatasetConfig(layout="medmnist", root=root, options={"flag": FLAG, "size": size})
        start = time.perf_counter()
        indexed = index_dataset("fake", config, seed=0, policy=AuditConfig(), cache=default_cache())
        out["index_s"] = time.perf_counter() - start
        out["index_anon_mb"] = peak.anon / 2**20
        start = time.perf_counter()
        data = load_images(indexed.source, ops=[], size=size, cache=default_cache(),
                           keys=indexed.keys)  # fmt: skip
        out["images_s"] = time.perf_counter() - start
        out["images_anon_mb"] = peak.anon / 2**20
        torch.manual_seed(0)
        model = create_model("test_resnet", num_classes=len(data.classes), pretrained=False)
        mean, std = input_stats(model)
        batches = Batches(data.images, data.labels, indices=indexed.indices("train"),
                          batch_size=64, mean=mean, std=std, shuffle=True)  # fmt: skip
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        start = time.perf_counter()
        for k, (x, y) in enumerate(batches):
            optimiser.zero_grad()
            loss_fn(model(x), y).backward()
            optimiser.step()
            if k + 1 >= steps:
                break
        out["steps_s"] = time.perf_counter() - start
    return out | peak.stop()


def _measure(step: str, root: Path, images: int, size: int, steps: int, env: dict) -> dict:
    command = [sys.executable, "-m", "tests.perf.bench_medmnist", "_child", step, str(root),
               str(images), "--size", str(size), "--steps", str(steps)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(workdir: Path, gbs: list[float], steps: int, size: int = 224) -> None:
    from benchmark.data.layouts.medmnist import write_fake_file

    env = os.environ | {"MEDBENCH_CACHE": str(workdir / "cache"), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    baseline = _measure("none", workdir, 1, size, steps, env)
    print(f"a bare process (imports only): peak {baseline['peak_rss_mb']:.0f} MB")
    rows = []
    for gb in gbs:
        images = _images_for(gb, size)
        root = workdir / f"fake-{gb:g}gb"
        _scale(images)
        start = time.perf_counter()
        write_fake_file(root, FLAG, size, chunk=512)
        written = time.perf_counter() - start
        inspect = _measure("inspect", root, images, size, steps, env)
        epoch = _measure("epoch", root, images, size, steps, env)
        rows.append((gb, images, inspect, epoch))
        i_rss, i_anon = inspect["peak_rss_mb"], inspect["peak_anon_mb"]
        print(f"{gb:g} GB ({images} images of {size} px, written in {written:.0f} s): "
              f"inspect peak {i_rss:.0f} MB (anonymous {i_anon:.0f}); "
              f"epoch peak {epoch['peak_rss_mb']:.0f} MB (anonymous {epoch['peak_anon_mb']:.0f}); "
              f"index+audit {epoch['index_s']:.0f} s, image set {epoch['images_s']:.0f} s, "
              f"{steps} steps {epoch['steps_s']:.0f} s", flush=True)  # fmt: skip
        shutil.rmtree(root)
        shutil.rmtree(workdir / "cache", ignore_errors=True)
    if len(rows) == 2:
        (_, _, i1, e1), (_, _, i2, e2) = rows
        print(f"ratio large/small: inspect {i2['peak_rss_mb'] / i1['peak_rss_mb']:.2f}x, "
              f"epoch {e2['peak_rss_mb'] / e1['peak_rss_mb']:.2f}x "
              f"(anonymous {e2['peak_anon_mb'] / e1['peak_anon_mb']:.2f}x)")  # fmt: skip


def throughput(size: int, images: int, batch: int = 64) -> None:
    import torch

    from benchmark.data import Batches, create_source, load_images
    from benchmark.data.cache import ImageCache
    from benchmark.data.layouts.medmnist import MedmnistOptions, write_fake_file

    _scale(images)
    with tempfile.TemporaryDirectory() as folder:
        root, cache = Path(folder) / "data", Path(folder) / "cache"
        os.environ["MEDBENCH_CACHE"] = str(cache)
        write_fake_file(root, FLAG, size, compress=True)
        start = time.perf_counter()
        source = create_source("medmnist", root, options=MedmnistOptions(flag=FLAG, size=size))
        unpack = time.perf_counter() - start
        n = len(source)
        parts = [np.load(p, mmap_mode="r") for p in sorted((cache / "npz").rglob("*_images.npy"))]
        order = np.random.default_rng(0).permutation(n)
        train = parts[[p.shape[0] for p in parts].index(max(p.shape[0] for p in parts))]

        def timed(fn) -> float:
            """The best of two passes (the first also maps the pages in)."""
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
            return best

        read = timed(lambda: [source.read(int(i)) for i in order])
        sizes = np.cumsum([0] + [len(p) for p in parts])

        def numpy_reads() -> None:
            for i in order:
                k = int(np.searchsorted(sizes, i, side="right") - 1)
                np.array(parts[k][i - sizes[k]])

        plain = timed(numpy_reads)
        print(f"{n} images of {size} px: unpacked in {unpack:.2f} s; one at a time: "
              f"Source.read {n / read:,.0f} img/s, numpy slicing {n / plain:,.0f} img/s "
              f"(ratio {plain / read:.2f})")  # fmt: skip
        start = time.perf_counter()
        load_images(source, ops=[], size=size, cache=ImageCache(cache))
        made = time.perf_counter() - start
        start = time.perf_counter()
        data = load_images(source, ops=[], size=size, cache=ImageCache(cache))
        reused = time.perf_counter() - start
        batches = Batches(data.images, data.labels, indices=torch.arange(n), batch_size=batch,
                          mean=(0.5,) * 3, std=(0.5,) * 3, shuffle=True)  # fmt: skip
        gathered = timed(lambda: [None for _ in batches])
        rows = np.random.default_rng(1).permutation(len(train))
        slices = timed(lambda: [np.ascontiguousarray(train[np.sort(rows[s : s + batch])])
                                for s in range(0, len(train), batch)])  # fmt: skip
        print(f"image set made in {made:.2f} s ({n / made:,.0f} img/s), mapped again from the "
              f"cache in {reused:.2f} s; batches of {batch}: "
              f"Batches (gathered, normalised) {n / gathered:,.0f} img/s, numpy fancy "
              f"indexing of the unpacked array {len(train) / slices:,.0f} img/s")  # fmt: skip


_OUTSIDE = {  # what a cell does besides training, by the function that does it
    "store and suite prepared": "prepare",
    "index and audit": "index_dataset",
    "decode": "load_images",
    "test predictions": "proba",
    "bootstrap": "intervals",
    "latency and FLOPs": "_model_cost",
    "CAMs": "runner/_explain.py:explain",
    "model logged": "_log_model",
    "metrics logged": "log_metrics",
    "suite summary": "summarise",
}


def overhead(profile_to: Path | None = None) -> None:
    import cProfile
    import pstats

    import yaml

    from benchmark import track
    from benchmark.checks import load_checked_suite
    from benchmark.data import write_synthetic
    from benchmark.runner import run_suite

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["MEDBENCH_CACHE"] = str(root / "cache")
        write_synthetic(root / "retina", layout="medmnist")
        quickstart = yaml.safe_load(Path("suites/quickstart.yaml").read_text())
        suite = quickstart | {
            "name": "medmnist28",
            "datasets": {"retina": {"layout": "medmnist", "root": str(root / "retina"),
                                    "options": {"flag": "retinamnist"}}},
            "train": quickstart["train"] | {"image_size": 28},
        }  # fmt: skip
        (root / "suite.yaml").write_text(yaml.safe_dump(suite))
        loaded = load_checked_suite(root / "suite.yaml")
        uri = f"sqlite:///{root / 'mlflow.db'}"
        track.connect(uri)  # a store's migrations (once per store) are no cell's time
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        outcomes = run_suite(loaded, tracking_uri=uri)
        profile.disable()
        total = time.perf_counter() - start
    assert all(o.status == "finished" for o in outcomes), [o.error for o in outcomes]
    if profile_to is not None:
        profile.dump_stats(profile_to)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def seconds(name: str) -> float:
        """The cumulative time of function ``name`` (``path/to/file.py:name`` to tell apart
        functions of one name)."""
        where, _, fn_name = name.rpartition(":")
        return max((v[3] for (file, _, fn), v in stats.items()
                    if fn == fn_name and file.endswith(where)), default=0.0)  # fmt: skip

    index = seconds("index_dataset")
    print(f"28 px cells of the quickstart's size (RetinaMNIST's 1600 images, 16 epochs, "
          f"CAMs): {total:.1f} s in all, {index:.1f} s of it indexing and auditing the data "
          "(once; the facts are cached for later runs)")  # fmt: skip
    for k, outcome in enumerate(outcomes):
        train = outcome.metrics["time/train_s"]
        spent = outcome.seconds + (index if k == 0 else 0.0)
        print(f"  {outcome.cell.backbone.name}: {spent:.1f} s, training {train:.1f} s, outside "
              f"training {spent - train:.1f} s ({(spent - train) / spent:.0%})"
              + (" (the data indexed for it)" if k == 0 else ""))  # fmt: skip
    print("outside training, both cells together:")
    for label, name in _OUTSIDE.items():
        print(f"  {label}: {seconds(name):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--size", type=int, default=28)
    t.add_argument("--images", type=int, default=20_000)
    m = sub.add_parser("memory")
    m.add_argument("--workdir", type=Path, required=True)
    m.add_argument("--gb", type=float, nargs="+", default=[1.0, 8.0])
    m.add_argument("--steps", type=int, default=20)
    m.add_argument("--size", type=int, default=224)
    o = sub.add_parser("overhead")
    o.add_argument("--profile", type=Path, help="also save the profile there (pstats)")
    c = sub.add_parser("_child")
    c.add_argument("step")
    c.add_argument("root", type=Path)
    c.add_argument("images", type=int)
    c.add_argument("--size", type=int, default=224)
    c.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.size, args.images)
    elif args.what == "overhead":
        overhead(args.profile)
    elif args.what == "memory":
        args.workdir.mkdir(parents=True, exist_ok=True)
        memory(args.workdir, args.gb, args.steps, args.size)
    else:
        result = _child(args.step, args.root, args.images, args.size, args.steps)
        sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
