from __future__ import annotations

import pytest
import torch

from benchmark.data import Batches, create_augment, create_source, load_images
from benchmark.data.layouts import SyntheticOptions
from benchmark.evaluate import score
from benchmark.models import create_model, input_stats
from benchmark.suite import EarlyStoppingConfig, ScheduleConfig, TrainConfig
from benchmark.train import fit, predict_proba

IMAGES = load_images(
    create_source(
        "synthetic", None, options=SyntheticOptions(per_class=24, size=32, difficulty=0.0)
    ),
    ops=[],
    size=32,
)


def _batches(model, indices, **kwargs) -> Batches:
    mean, std = input_stats(model)
    return Batches(IMAGES.images, IMAGES.labels, indices=indices, mean=mean, std=std, **kwargs)


def _fit(config: TrainConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model("test_resnet", num_classes=4)
    train = _batches(model, range(64), batch_size=16, shuffle=True, seed=seed)
    val = _batches(model, range(64, 96), batch_size=32)
    return model, fit(model, train, val, config=config)


def test_fit_returns_a_history_per_epoch_and_learns():
    _, history = _fit(TrainConfig(epochs=6, lr=0.01, early_stopping=None))
    assert len(history.epochs) == 6
    assert set(history.epochs[0]) == {
        "train/loss", "train/lr", "val/loss", "val/accuracy", "val/f1_weighted",
        "val/auroc_macro", "time/epoch_s",
    }  # fmt: skip
    losses = [row["train/loss"] for row in history.epochs]
    assert losses[-1] < losses[0]
    # The first step is warm-up (compiling, cuDNN's autotuning on a GPU), kept out of the
    # throughput: every other step is timed.
    assert history.images_seen == 6 * 64 - 16 and history.images_per_second > 0
    assert history.warmup_seconds > 0
    assert history.best_score == max(row["val/f1_weighted"] for row in history.epochs)


def test_same_seed_same_history():
    config = TrainConfig(epochs=2, lr=0.01, early_stopping=None)
    _, a = _fit(config, seed=1)
    _, b = _fit(config, seed=1)
    assert [r["val/loss"] for r in a.epochs] == [r["val/loss"] for r in b.epochs]


def test_early_stopping_restores_the_best_epoch():
    stopping = EarlyStoppingConfig(monitor="val/f1_weighted", patience=2)
    config = TrainConfig(epochs=30, lr=0.5, optimizer="sgd", early_stopping=stopping)
    model, history = _fit(config)
    assert history.stopped_early and len(history.epochs) < 30
    assert len(history.epochs) - history.best_epoch == 2
    probs, labels = predict_proba(model, _batches(model, range(64, 96), batch_size=32))
    assert score(labels, probs.argmax(1))["f1_weighted"] == history.best_score


def test_augmentation_is_drawn_per_image():
    augment = create_augment(rotate=30, hflip=True)
    batch = IMAGES.images[:1].repeat(8, 1, 1, 1)
    out = augment(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert len({bytes(img.numpy()) for img in out}) > 1
    assert create_augment() is None


def test_batches_normalise_and_expand_gray_to_rgb():
    model = create_model("test_resnet", num_classes=4)
    x, y = next(iter(_batches(model, range(10), batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    assert y.tolist() == IMAGES.labels[:4].tolist()
    assert -3 < x.mean().item() < 3


def test_schedules_change_the_learning_rate_as_configured():
    def lrs(schedule: ScheduleConfig) -> list[float]:
        config = TrainConfig(epochs=4, lr=0.1, early_stopping=None, schedule=schedule)
        return [row["train/lr"] for row in _fit(config)[1].epochs]

    assert lrs(ScheduleConfig()) == [0.1] * 4
    assert lrs(ScheduleConfig(kind="step", step_size=2, gamma=0.5)) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05]
    )
    cosine = lrs(ScheduleConfig(kind="cosine"))
    assert cosine[0] == pytest.approx(0.1) and cosine == sorted(cosine, reverse=True)
    plateau = lrs(ScheduleConfig(kind="plateau", patience=0, factor=0.5))
    assert plateau[0] == pytest.approx(0.1) and min(plateau) < 0.1  # lowered when val stalls


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(
        epochs=1, lr=1.0, optimizer="sgd", momentum=0.0, grad_clip=1e-3, early_stopping=None
    )
    fit(model, _batches(model, range(16), batch_size=16), None, config=config)
    step = torch.sqrt(
        sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True))
    )
    assert step.item() <= 1e-3 * 1.0 + 1e-6


def test_fit_without_validation_trains_every_epoch():
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    history = fit(
        model, _batches(model, range(32), batch_size=16), None, config=TrainConfig(epochs=3)
    )
    assert len(history.epochs) == 3 and "val/loss" not in history.epochs[0]


class _Killed(BaseException):
    """Stands for a kill right after an epoch's checkpoint was written."""


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_an_interrupted_training_continues_from_its_checkpoint_as_if_never_stopped(
    tmp_path, schedule
):
    config = TrainConfig(
        epochs=5, lr=0.01, early_stopping=None, schedule=ScheduleConfig(kind=schedule),
        augment={"rotate": 10, "hflip": True},
    )  # fmt: skip
    augment = create_augment(rotate=10, hflip=True)

    def run(checkpoint=None, stop_at=None, batches=None):
        torch.manual_seed(3)
        model = create_model("test_resnet", num_classes=4)
        train = _batches(model, range(64), batch_size=16, shuffle=True, seed=3, augment=augment)
        val = _batches(model, range(64, 96), batch_size=32)

        def on_epoch(epoch, row):
            if epoch == stop_at:
                raise _Killed

        def on_batch(step, total):
            if batches is not None:
                batches.append(step)

        history = fit(model, train, val, config=config, checkpoint=checkpoint,
                      on_epoch=on_epoch, on_batch=on_batch)  # fmt: skip
        return model, history

    whole_model, whole = run()
    path = tmp_path / "cell" / "seed-3.pt"
    with pytest.raises(_Killed):
        run(checkpoint=path, stop_at=2)
    assert path.is_file() and not list(path.parent.glob(".*partial"))
    steps: list[int] = []
    model, resumed = run(checkpoint=path, batches=steps)
    assert resumed.restored_epochs == 2 and len(steps) == 3 * 4  # epochs 1–2 not trained again
    assert [r["val/loss"] for r in resumed.epochs] == [r["val/loss"] for r in whole.epochs]
    for a, b in zip(model.state_dict().values(), whole_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_that_does_not_fit_says_how_to_start_over(tmp_path):
    from benchmark.errors import MedbenchError

    path = tmp_path / "c.pt"
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    fit(model, _batches(model, range(16), batch_size=16), None,
        config=TrainConfig(epochs=1), checkpoint=path)  # fmt: skip
    other = create_model("test_efficientnet", num_classes=4)
    with pytest.raises(MedbenchError, match=r"does not fit this training.*delete it"):
        fit(other, _batches(other, range(16), batch_size=16), None,
            config=TrainConfig(epochs=2), checkpoint=path)  # fmt: skip


def test_nothing_reads_the_device_inside_an_epoch(monkeypatch):
    """Host reads (``item``, ``cpu``, ``tolist``, ``float``) wait for the device: the loop may
    do them once per epoch, not once per step."""

    def reads_for(images: int) -> int:
        count = 0
        reads = ("item", "cpu", "tolist", "__float__", "numpy")
        originals = {name: getattr(torch.Tensor, name) for name in reads}

        def counting(name):
            def read(self, *args, **kwargs):
                nonlocal count
                count += 1
                return originals[name](self, *args, **kwargs)

            return read

        torch.manual_seed(0)
        model = create_model("test_resnet", num_classes=4)
        train = _batches(model, range(images), batch_size=8, shuffle=True,
                         augment=create_augment(rotate=10, hflip=True, contrast=0.1))  # fmt: skip
        with monkeypatch.context() as patch:
            for name in originals:
                patch.setattr(torch.Tensor, name, counting(name))
            # SGD: on a CPU, Adam reads its step counters (on a GPU its fused kernel does not)
            fit(model, train, None, config=TrainConfig(epochs=2, grad_clip=1.0, optimizer="sgd"))
        return count

    assert reads_for(16) == reads_for(64)  # 2 steps an epoch or 8: the same reads


def test_compile_wraps_the_model_without_renaming_its_weights(monkeypatch):
    import functools

    from benchmark.errors import MedbenchError

    eager = functools.partial(torch.compile, backend="eager")  # for real: a minute on a CPU
    monkeypatch.setattr(torch, "compile", eager)
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    names = list(model.state_dict())
    history = fit(model, _batches(model, range(32), batch_size=16), None,
                  config=TrainConfig(epochs=1, compile=True))  # fmt: skip
    assert len(history.epochs) == 1 and list(model.state_dict()) == names

    class Unsupported(Exception):
        pass

    Unsupported.__module__ = "torch._dynamo.exc"

    def broken(model, **kwargs):
        def call(*args):
            raise Unsupported("no C++ compiler found")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(
        MedbenchError,
        match=r"torch.compile cannot be used here.*no C\+\+ compiler.*train.compile: false",
    ):
        fit(model, _batches(model, range(16), batch_size=16), None,
            config=TrainConfig(epochs=1, compile=True))  # fmt: skip


def test_no_gradient_outlives_the_training():
    model, _ = _fit(TrainConfig(epochs=1, lr=0.01))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(("every_s", "written"), [("0", True), ("3600", False)])
def test_checkpoints_are_written_every_epoch_only_when_epochs_are_slow(
    tmp_path, monkeypatch, every_s, written
):
    monkeypatch.setenv("MEDBENCH_CHECKPOINT_EVERY_S", every_s)
    path = tmp_path / "c.pt"
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    history = fit(model, _batches(model, range(32), batch_size=16), None,
                  config=TrainConfig(epochs=2), checkpoint=path)  # fmt: skip
    assert path.is_file() is written
    assert (history.checkpoint_seconds > 0) is written


def test_fp16_with_a_gradient_scaler_trains_and_resumes(tmp_path, monkeypatch):
    """Where bfloat16 is not native the GPU trains in float16 with a scaler: the same path
    on a CPU (float16 autocast, a CPU scaler), checkpointed with the scaler's state."""
    import benchmark.train as train_module

    monkeypatch.setattr(train_module, "grad_scaler", lambda device: torch.amp.GradScaler("cpu"))
    monkeypatch.setattr(
        train_module, "autocast", lambda device: torch.autocast("cpu", dtype=torch.float16)
    )
    config = TrainConfig(epochs=4, lr=0.01, early_stopping=None, grad_clip=5.0)
    _, history = _fit(config)
    losses = [row["train/loss"] for row in history.epochs]
    assert all(map(torch.isfinite, torch.tensor(losses))) and losses[-1] < losses[0]
    path = tmp_path / "fp16.pt"
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    fit(model, _batches(model, range(32), batch_size=16), None, config=TrainConfig(epochs=1),
        checkpoint=path)  # fmt: skip
    state = torch.load(path, weights_only=True)
    assert state["scaler"]["scale"] > 0


def test_a_checkpoint_resumes_on_whichever_gpu_trains_now(tmp_path, monkeypatch):
    """Only the training device's generator is saved, and it is restored onto the device
    that trains now: a checkpoint of a process that saw eight GPUs resumes on one."""
    import benchmark.train as train_module

    saved_from, restored_on = [], []
    state = torch.arange(16, dtype=torch.uint8)

    def get_rng_state(device):
        saved_from.append(device)
        return state

    monkeypatch.setattr(torch.cuda, "get_rng_state", get_rng_state)
    monkeypatch.setattr(
        torch.cuda, "set_rng_state", lambda s, device: restored_on.append((s, device))
    )
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("all GPUs' states"))
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    optimizer = train_module.create_optimizer(model.parameters(), TrainConfig())
    on_gpu_5 = _batches(model, range(16), batch_size=16)
    on_gpu_5.device = torch.device("cuda", 5)
    path = tmp_path / "c.pt"
    train_module._save(path, model, optimizer, None, None, on_gpu_5, train_module.History(),
                       None, 0.0, 0)  # fmt: skip
    assert saved_from == [torch.device("cuda", 5)]
    on_gpu_0 = _batches(model, range(16), batch_size=16)
    on_gpu_0.device = torch.device("cuda", 0)
    train_module._restore(path, model, optimizer, None, None, on_gpu_0)
    assert len(restored_on) == 1 and torch.equal(restored_on[0][0], state)
    assert restored_on[0][1] == torch.device("cuda", 0)


def test_a_compiled_training_sees_full_batches_only(monkeypatch):
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    sizes = []
    torch.manual_seed(0)
    model = create_model("test_resnet", num_classes=4)
    model.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    fit(model, _batches(model, range(40), batch_size=16, shuffle=True), None,
        config=TrainConfig(epochs=2, compile=True))  # fmt: skip
    assert sizes == [16] * 4  # 40 images: two full batches an epoch, the 8 left out
