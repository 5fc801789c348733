"""``medbench app`` under load: N uploads from C concurrent clients on 127.0.0.1 (with the
token check on), answer times p50/p95, errors, and the server's memory before and after.

python -m tests.perf.bench_app [--uploads 200] [--clients 8] [--backbone resnet10t] [--size 128]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import psutil
from PIL import Image

from benchmark.data import PHANTOM_CLASSES, render_phantom
from benchmark.serve import Predictor
from benchmark.serve.app import create_app
from tests._server import serve_in_thread
from tests.perf.bench_serving import _model

TOKEN = "bench-token"


def run_load(
    predictor: Predictor, *, uploads: int, clients: int, cam: str | None, timeout_s: float
) -> dict:
    """``uploads`` phantoms of 256 px PNG, ``clients`` at a time; answer times in seconds."""
    scans = []
    for i in range(16):
        buffer = io.BytesIO()
        label = PHANTOM_CLASSES[i % len(PHANTOM_CLASSES)]
        Image.fromarray(render_phantom(i, seed=3, size=256, label=label).image).save(
            buffer, format="PNG"
        )
        scans.append(buffer.getvalue())
    auth = "Basic " + base64.b64encode(f"bench:{TOKEN}".encode()).decode()
    process = psutil.Process()
    deadline = time.monotonic() + timeout_s

    def upload(i: int) -> tuple[float, int]:
        if time.monotonic() > deadline:
            return float("nan"), -1  # past the time bound: not sent
        request = urllib.request.Request(
            f"{url}/api/predict", data=scans[i % len(scans)], headers={"Authorization": auth}
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        return time.perf_counter() - start, status

    with serve_in_thread(create_app(predictor, cam_method=cam, token=TOKEN)) as url:
        for i in range(clients):  # warm-up: the first answers build caches and threads
            upload(i)
        before = process.memory_info().rss
        half = None
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = []
            for k, result in enumerate(pool.map(upload, range(uploads))):
                results.append(result)
                if k == uploads // 2:
                    half = process.memory_info().rss
        after = process.memory_info().rss
    times = np.array([t for t, status in results if status == 200])
    return {
        "ok": int(sum(status == 200 for _, status in results)),
        "errors": sorted({status for _, status in results if status not in (200, -1)}),
        "skipped": int(sum(status == -1 for _, status in results)),
        "p50_ms": 1000 * float(np.percentile(times, 50)) if len(times) else float("nan"),
        "p95_ms": 1000 * float(np.percentile(times, 95)) if len(times) else float("nan"),
        "rss_mb": [x / 2**20 for x in (before, half or after, after)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--backbone", default="resnet10t")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for all uploads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = _model(Path(tmp) / "model", args.backbone, args.size)
        predictor = Predictor.load(folder, device="cpu")
        for cam in (None, "gradcam"):
            start = time.perf_counter()
            out = run_load(
                predictor, uploads=args.uploads, clients=args.clients, cam=cam,
                timeout_s=args.timeout,
            )  # fmt: skip
            wall = time.perf_counter() - start
            rss = " → ".join(f"{x:.0f}" for x in out["rss_mb"])
            print(
                f"{args.backbone} {args.size} px, CAM {cam or 'off':7s}: {out['ok']} of "
                f"{args.uploads} uploads answered from {args.clients} clients in {wall:.1f} s, "
                f"errors {out['errors'] or 'none'}, not sent (time bound) {out['skipped']}; "
                f"p50 {out['p50_ms']:.0f} ms, p95 {out['p95_ms']:.0f} ms; "
                f"server RSS {rss} MB (after warm-up → half-way → end)"
            )


if __name__ == "__main__":
    main()
