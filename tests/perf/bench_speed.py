"""Training speed against timm's own benchmark loop, batched augmentation against a loop
per image, and the brain paper's six-model workload, printed in one run.

    python -m tests.perf.bench_speed [--device auto] [--images N] [--steps N]

1. ``fit`` (uint8 images on the device, normalised and gathered per batch, the loss summed
   on the device) against a reference loop written after timm's ``benchmark.py --bench
   train`` (a ready float batch on the device, the same model, batch size, image size,
   bf16 autocast on a GPU, channels-last for convolutional models, the same optimiser):
   resnet50, mobilenetv2_100 and inception_v3 on a GPU; a tiny model on a CPU.
2. The batched augmentation of a 32-image batch at 200 px against the per-image loop it
   replaced (torchvision's ``RandomAffine`` + flip + ``ColorJitter``, one image at a time),
   and the share of a quickstart training epoch each takes.
3. One epoch of each of the six backbones of the brain paper at its image size (200 px,
   NASNet-Large 331 px) on synthesized images, extrapolated to 7023 images × 25 epochs.
   On a CPU, with a few images, it only proves the script.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from torch import nn

from benchmark.data import Batches, create_augment, place_images
from benchmark.devices import prepare_for, resolve_device
from benchmark.models import create_model, input_stats
from benchmark.suite import TrainConfig
from benchmark.train import fit

BRAIN = [("resnet50", 200), ("vgg19", 200), ("inception_v3", 200), ("nasnetalarge", 331),
         ("mobilenetv2_100", 200), ("legacy_xception", 200)]  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_loop(name: str, *, device, batch: int, size: int, steps: int) -> float:
    """Images per second of timm's train benchmark: one ready batch, forward, loss,
    backward, optimiser step, timed after warm-up with the device synchronised."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    channels_last = prepare_for(model, device)  # cuDNN autotune, TF32, channels-last
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4,
                                 **({"fused": True} if device.type == "cuda" else {}))  # fmt: skip
    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 4, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def medbench_fit(name: str, *, device, batch: int, size: int, steps: int) -> float:
    """Images per second of ``fit`` over uint8 images (one warm epoch, then one timed)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    mean, std = input_stats(model)
    n = batch * steps
    images = place_images(torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8), device)
    labels = torch.randint(0, 4, (n,))
    train = Batches(images, labels, indices=range(n), batch_size=batch, mean=mean, std=std,
                    device=device, shuffle=True)  # fmt: skip
    history = fit(model, train, None, config=TrainConfig(epochs=2, batch_size=batch, lr=1e-4))
    last = history.epochs[-1]
    return n / last["time/epoch_s"]


def augmentation(
    batch: int = 32, size: int = 200, channels: int = 3, repeats: int = 5
) -> tuple[float, float]:
    """Seconds per batch: the per-image torchvision loop, then the batched augmentation."""
    from torchvision.transforms import v2

    per_image = v2.Compose([
        v2.RandomAffine(degrees=10, translate=(0.05, 0.05), shear=5, scale=(0.9, 1.1)),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])  # fmt: skip
    batched = create_augment(rotate=10, shift=0.05, shear=5, zoom=0.1, hflip=True,
                             brightness=0.2, contrast=0.2)  # fmt: skip
    images = torch.randint(0, 255, (batch, channels, size, size), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)

    def best(run) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    old = best(lambda: torch.stack([per_image(image) for image in images]))
    new = best(lambda: batched(images.float(), generator))
    return old, new


def augmented_epochs(repeats: int = 3) -> dict[str, float]:
    """Seconds per training epoch of the quickstart's cell (test_resnet, 320 gray images at
    80 px, batch 32, rotate/shift/flip): no augmentation, the per-image loop, batched."""
    from torchvision.transforms import v2

    per_image = v2.Compose([v2.RandomAffine(degrees=10, translate=(0.05, 0.05)),
                            v2.RandomHorizontalFlip()])  # fmt: skip

    def loop(x: torch.Tensor, generator=None) -> torch.Tensor:
        return torch.stack([per_image(image) for image in x.to(torch.uint8)]).float()

    kinds = {"none": None, "per image": loop,
             "batched": create_augment(rotate=10, shift=0.05, hflip=True)}  # fmt: skip
    images = torch.randint(0, 255, (320, 1, 80, 80), dtype=torch.uint8)
    labels = torch.randint(0, 4, (320,))
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(repeats):
        for kind, augment in kinds.items():
            torch.manual_seed(0)
            model = create_model("test_resnet", num_classes=4)
            mean, std = input_stats(model)
            train = Batches(images, labels, indices=range(320), batch_size=32, mean=mean,
                            std=std, augment=augment, shuffle=True)  # fmt: skip
            history = fit(model, train, None, config=TrainConfig(epochs=2, lr=1e-3))
            best[kind] = min(best[kind], history.epochs[-1]["time/epoch_s"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=None,
                        help="images per model for the six-model epoch "
                             "(default: 7023 on a GPU, 16 on a CPU)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=None, help="timed steps per model")
    args = parser.parse_args()
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")

    models = [("resnet50", 32, 224), ("mobilenetv2_100", 32, 224), ("inception_v3", 32, 299)]
    if not gpu:
        models = [("test_resnet", 32, 64), ("resnet10t", 32, 64)]
    steps = args.steps or (50 if gpu else 20)
    print("training throughput, medbench fit vs timm's benchmark loop (img/s, best of 5, "
          "taken in turns):")  # fmt: skip
    for model, batch, size in models:
        refs, ours = [], []
        for _ in range(5):
            refs.append(reference_loop(model, device=device, batch=batch, size=size, steps=steps))
            ours.append(medbench_fit(model, device=device, batch=batch, size=size, steps=steps))
        ref, ours = max(refs), max(ours)
        print(f"  {model:18s} batch {batch} at {size} px: medbench {ours:8.1f}  timm loop "
              f"{ref:8.1f}  ratio ×{ours / ref:.2f}")  # fmt: skip

    for channels, kind in ((1, "gray"), (3, "RGB")):
        old, new = augmentation(channels=channels)
        print(f"augmentation of 32 {kind} images at 200 px on the CPU: per image "
              f"{old * 1000:.1f} ms, batched {new * 1000:.1f} ms (×{old / new:.1f})")  # fmt: skip

    epochs = augmented_epochs()
    print("the quickstart's training epoch on the CPU: "
          + ", ".join(f"{kind} {t * 1000:.0f} ms" for kind, t in epochs.items())
          + f" (augmentation's share: per image {1 - epochs['none'] / epochs['per image']:.0%}, "
          f"batched {1 - epochs['none'] / epochs['batched']:.0%})")  # fmt: skip

    count = args.images or (7023 if gpu else 16)
    batch = 32 if gpu else 8  # NASNet-Large at 331 px: a batch of 32 needs tens of GB
    print(f"brain six-model workload (25 epochs of 7023 images), from one epoch of {count}:")
    total = 0.0
    for model, size in BRAIN:
        try:
            rate = medbench_fit(model, device=device, batch=batch, size=size,
                                steps=max(count // batch, 1))  # fmt: skip
        except (RuntimeError, MemoryError) as exc:  # out of memory: the others still run
            print(f"  {model:18s} {size} px: failed ({str(exc).splitlines()[0][:120]})")
            continue
        minutes = 25 * 7023 / rate / 60
        total += minutes
        print(f"  {model:18s} {size} px: {rate:8.1f} img/s → {minutes:8.1f} min")
    print(f"  total {total:.1f} min (the paper: 2270 min on an RTX A5000)")


if __name__ == "__main__":
    main()
