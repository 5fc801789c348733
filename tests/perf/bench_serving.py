"""Serving costs, as ratios in one run: the predictor against a bare PyTorch loop on the same
files, the MLflow pyfunc wrapper against the predictor, the app's answer with and without a
CAM, and what packaging a cell's model costs.

python -m tests.perf.bench_serving
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd
import torch
from PIL import Image

from benchmark import track
from benchmark.data import PHANTOM_CLASSES, render_phantom
from benchmark.models import create_model, input_stats, save_model
from benchmark.serve import Predictor

N_FILES, FILE_SIZE = 256, 256


def _files(folder: Path) -> list[str]:
    files = []
    for i in range(N_FILES):
        path = folder / f"scan_{i:03d}.png"
        Image.fromarray(render_phantom(i, seed=1, size=FILE_SIZE).image).save(path)
        files.append(str(path))
    return files


def _model(folder: Path, backbone: str, size: int) -> Path:
    torch.manual_seed(0)
    model = create_model(backbone, num_classes=len(PHANTOM_CLASSES)).eval()
    mean, std = input_stats(model)
    config = {
        "backbone": backbone, "num_classes": len(PHANTOM_CLASSES),
        "classes": list(PHANTOM_CLASSES), "head": {"kind": "linear"}, "image_size": size,
        "in_chans": 3, "mean": list(mean), "std": list(std), "preprocess": [], "dropout": 0.0,
    }  # fmt: skip
    save_model(model, folder, config=config)
    return folder


def bare_loop(model: torch.nn.Module, files: list[str], size: int, mean, std) -> np.ndarray:
    """What one writes by hand: PIL decode, resize, normalise, forward in batches of 64."""
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    out = []
    with torch.inference_mode():
        for start in range(0, len(files), 64):
            batch = [
                np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR))
                for f in files[start : start + 64]
            ]
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255
            out.append(model((x - m) / s).softmax(1).numpy())
    return np.concatenate(out)


def seconds(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = _files(tmp)
        for backbone, size in (("test_resnet", 80), ("resnet10t", 160)):
            predictor, folder = against_bare_loop(tmp, files, backbone, size)
        pyfunc_vs_predictor(tmp, files, predictor, folder)
        app_latency(predictor, files[0])


def against_bare_loop(tmp: Path, files: list[str], backbone: str, size: int):
    folder = _model(tmp / backbone, backbone, size)
    predictor = Predictor.load(folder, device="cpu")
    mean, std = predictor.config["mean"], predictor.config["std"]
    bare = seconds(lambda: bare_loop(predictor.model, files, size, mean, std))
    ours = seconds(lambda: [predictor.predict(files[i : i + 64]) for i in range(0, N_FILES, 64)])
    print(
        f"{backbone:11s} {size:3d} px, {N_FILES} PNG files of {FILE_SIZE} px: bare loop "
        f"{N_FILES / bare:6.0f} img/s, predictor {N_FILES / ours:6.0f} img/s, "
        f"ratio {bare / ours:.2f}"
    )
    return predictor, folder


def pyfunc_vs_predictor(tmp: Path, files: list[str], predictor: Predictor, folder: Path) -> None:
    import mlflow

    store = track.connect(f"sqlite:///{tmp / 'mlflow.db'}")
    experiment = store.ensure_experiment("bench")
    with store.start_run(experiment, name="cell", kind="cell", tags={}) as run:
        log_s = seconds(lambda: run.log_model(folder), repeat=1)
    start = time.perf_counter()
    model = mlflow.pyfunc.load_model(f"runs:/{run.run_id}/model")
    load_s = time.perf_counter() - start
    frame = pd.DataFrame({"image": [Path(f) for f in files]})  # a Path asks for a read
    wrapped = seconds(lambda: model.predict(frame))
    direct = seconds(lambda: predictor.predict(files))
    print(
        f"pyfunc: log_model {log_s:.2f} s per cell, load {load_s:.2f} s in a warm process; "
        f"predict {N_FILES} files {wrapped:.2f} s vs predictor {direct:.2f} s, "
        f"ratio {direct / wrapped:.2f}"
    )


def app_latency(predictor: Predictor, file: str, requests: int = 20) -> None:
    from benchmark.serve.app import create_app
    from tests._server import serve_in_thread

    data = Path(file).read_bytes()
    for cam in (None, "gradcam"):
        with serve_in_thread(create_app(predictor, cam_method=cam)) as url:
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                request = urllib.request.Request(f"{url}/api/predict", data=data)
                with urllib.request.urlopen(request) as response:
                    response.read()
                times.append(time.perf_counter() - start)
        print(
            f"app /api/predict, resnet10t 160 px, CAM {cam or 'off':8s}: "
            f"median {1000 * np.median(times):.1f} ms per upload"
        )


if __name__ == "__main__":
    main()
