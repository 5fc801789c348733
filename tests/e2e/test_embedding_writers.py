"""Two processes embedding the same images at once end with one good copy in the cache."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np

N = 64


def _embed(root: str, out: str, ready) -> None:
    """Build the same model and images as the other process, wait for it, embed."""
    import torch

    from benchmark.embeddings import EmbeddingStore, embed_images
    from benchmark.models import create_model, input_stats

    torch.set_num_threads(1)  # two processes on a shared machine
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=3)
    mean, std = input_stats(model)
    images = torch.randint(0, 256, (N, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))  # fmt: skip
    shas = [f"{i:064x}" for i in range(N)]
    ready.wait()  # both look the cache up before either has written
    result = embed_images(
        model, images, shas, key="k", mean=mean, std=std, device=torch.device("cpu"),
        batch_size=16, store=EmbeddingStore(Path(root)), about={"backbone": "test_resnet"},
    )  # fmt: skip
    np.save(out, result.features.numpy())
    Path(out).with_suffix(".json").write_text(json.dumps([result.computed, result.reused]))


def test_two_processes_embedding_the_same_images_leave_one_good_copy(tmp_path):
    from benchmark.embeddings import EmbeddingStore

    root = tmp_path / "embeddings"
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    outs = [tmp_path / f"out{k}.npy" for k in range(2)]
    procs = [context.Process(target=_embed, args=(str(root), str(o), ready)) for o in outs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=240)
    assert [proc.exitcode for proc in procs] == [0, 0]

    first, second = (np.load(o) for o in outs)
    assert first.shape[0] == N and np.array_equal(first, second)
    counts = [json.loads(o.with_suffix(".json").read_text()) for o in outs]
    # one embeds while the other waits on the key's lock, then reads every image
    assert sorted(counts) == [[0, N], [N, 0]], counts

    folder = root / "k"
    files = sorted(p.name for p in folder.iterdir() if p.name != ".lock")
    assert sorted(Path(f).suffix for f in files) == [".json", ".json", ".npy"]  # about, record
    found = EmbeddingStore(root).lookup("k", [f"{i:064x}" for i in range(N)])
    assert len(found) == N
    gathered = np.stack([array[row] for array, row in found.values()])
    assert np.array_equal(gathered, first)
