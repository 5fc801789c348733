"""Temperature scaling on a real tiny model made over-confident on purpose.

    python -m tests.perf.bench_calibration [--per-class 600] [--size 32] [--difficulty 0.1]
                                           [--epochs 10] [--lr 0.002] [--sharpen 5]
                                           [--device cpu]

A ``test_resnet`` (random init) is trained with ``benchmark.train.fit`` on synthetic brain
phantoms split in half for training, a quarter for validation and a quarter for test. Its
classifier's weights and bias are then multiplied by ``--sharpen``: the same decisions,
logits ``--sharpen`` times larger, so an over-confident model. For the model as trained and
for the sharpened one, the temperature is fitted on the validation probabilities and the
test split's ECE, NLL and Brier score are printed before and after it is applied, with the
test accuracy (which a temperature cannot change) and the seconds the fit took. A small
model trained to a low training loss on few images is itself over-confident already.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmark.data import Batches, create_source, load_images
from benchmark.data.layouts import SyntheticOptions
from benchmark.evaluate import apply_temperature, calibration_scores, fit_temperature
from benchmark.models import create_model, input_stats
from benchmark.suite import TrainConfig
from benchmark.train import fit, predict_proba


def report(name: str, val, test) -> None:
    """Fit T on ``val`` (labels, probs), print ``test``'s scores before and after."""
    start = time.perf_counter()
    t = fit_temperature(*val, multilabel=False)
    seconds = time.perf_counter() - start
    labels, probs = test
    before = calibration_scores(labels, probs, multilabel=False)
    scaled = apply_temperature(probs, t, multilabel=False)
    after = calibration_scores(labels, scaled, multilabel=False)
    same = (scaled.argmax(1) == probs.argmax(1)).all()
    accuracy = (probs.argmax(1) == labels).mean()
    print(f"{name:<14} T = {t:6.3f} (fitted in {seconds * 1000:.0f} ms)   test accuracy "
          f"{accuracy:.3f}, unchanged: {same}")  # fmt: skip
    for key in ("ece", "nll", "brier"):
        print(f"    {key:<6} {before[key]:8.4f} -> {after[key]:8.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--difficulty", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--sharpen", type=float, default=5.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    options = SyntheticOptions(per_class=args.per_class, size=args.size, difficulty=args.difficulty)
    images = load_images(create_source("synthetic", None, options=options), ops=[], size=args.size)
    order = np.random.default_rng(0).permutation(len(images.labels)).tolist()
    half, quarter = len(order) // 2, len(order) // 4
    splits = {
        "train": order[:half],
        "val": order[half : half + quarter],
        "test": order[half + quarter :],
    }
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4, pretrained=False).to(device)
    mean, std = input_stats(model)

    def batches(split: str, **kwargs) -> Batches:
        return Batches(images.images, images.labels, indices=splits[split], mean=mean, std=std,
                       device=device, batch_size=32, **kwargs)  # fmt: skip

    print(f"{len(order)} phantoms of {args.size} px (difficulty {args.difficulty}): "
          f"{len(splits['train'])} train, {len(splits['val'])} val, {len(splits['test'])} "
          f"test; test_resnet, {args.epochs} epochs, {device}")  # fmt: skip
    start = time.perf_counter()
    config = TrainConfig(epochs=args.epochs, lr=args.lr, early_stopping=None)
    fit(model, batches("train", shuffle=True, seed=0), batches("val"), config=config)
    print(f"trained in {time.perf_counter() - start:.1f} s")

    def predictions(split: str):
        probs, labels = predict_proba(model, batches(split))
        return labels, probs

    report("as trained", predictions("val"), predictions("test"))
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.mul_(args.sharpen)
        head.bias.mul_(args.sharpen)
    report(f"logits x{args.sharpen:g}", predictions("val"), predictions("test"))


if __name__ == "__main__":
    main()
