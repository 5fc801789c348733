"""The training loop: fits a model, returns its history, logs nothing itself."""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.data import Batches
from benchmark.errors import MedbenchError
from benchmark.evaluate import score
from benchmark.metrics import higher_is_better
from benchmark.suite import TrainConfig

__all__ = [
    "History",
    "create_optimizer",
    "create_scheduler",
    "fit",
    "predict_proba",
    "resolve_device",
]

EpochCallback = Callable[[int, dict[str, float]], None]
BatchCallback = Callable[[int, int], None]


@dataclass
class History:
    """Per-epoch metrics (``train/loss``, ``val/loss``, ``val/accuracy``, ...) and totals."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("nan")
    stopped_early: bool = False
    train_seconds: float = 0.0
    images_seen: int = 0
    restored_epochs: int = 0  # epochs taken from a checkpoint instead of trained again

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.train_seconds if self.train_seconds else 0.0


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks the first CUDA device when there is one, else the CPU."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MedbenchError(f"device '{spec}' was asked for, but CUDA is not available here.")
    return device


def create_optimizer(
    params: Iterable[nn.Parameter], config: TrainConfig, *, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """The optimiser of ``config``; on a GPU its fused implementation (one kernel for all
    parameters)."""
    params = list(params)
    fused = {"fused": True} if device is not None and device.type == "cuda" else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            **fused,
        )  # fmt: skip
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, **fused)


def prepare_for(model: nn.Module, device: torch.device) -> bool:
    """Put ``model`` on ``device`` the fast way: on a GPU, cuDNN's autotuner and TF32 on,
    and the channels-last layout for convolutional models (returned: inputs must follow)."""
    model.to(device)
    if device.type != "cuda":
        return False
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
        return True
    return False


def compiled(model: nn.Module, *, mode: str | None = None) -> nn.Module:
    """``torch.compile(model)``, whose failures (it compiles at its first calls: no C++
    compiler, an unsupported Python or operator) are clear errors that say how to do
    without it. The compiler's caches are cleared first: a worker compiles model after
    model, and past its recompile limit torch would silently run the rest eagerly."""
    with _compile_errors():
        torch._dynamo.reset()
        return _Compiled(torch.compile(model, mode=mode))


class _Compiled(nn.Module):
    def __init__(self, net) -> None:
        super().__init__()
        self.net = net

    def forward(self, *args, **kwargs):
        with _compile_errors():
            return self.net(*args, **kwargs)


@contextlib.contextmanager
def _compile_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        where = type(exc).__module__
        if where.startswith(("torch._dynamo", "torch._inductor", "torch.compile")):
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise MedbenchError(
                f"torch.compile cannot be used here ({type(exc).__name__}: {reason}); set "
                "train.compile: false (or evaluate.latency.compile: false)."
            ) from exc
        raise


def create_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, *, maximize: bool):
    """The learning-rate schedule of ``config.schedule`` (``None`` for ``none``)."""
    schedule = config.schedule
    if schedule.kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs, eta_min=schedule.min_lr
        )
    if schedule.kind == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=schedule.step_size, gamma=schedule.gamma
        )
    if schedule.kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max" if maximize else "min",
            factor=schedule.factor,
            patience=schedule.patience,
            min_lr=schedule.min_lr,
        )
    return None


def fit(
    model: nn.Module,
    train: Batches,
    val: Batches | None,
    *,
    config: TrainConfig,
    criterion: nn.Module | None = None,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    checkpoint: Path | None = None,
) -> History:
    """Train ``model`` in place for ``config.epochs`` with early stopping on ``val``.

    The weights of the best validation epoch are restored at the end. Without ``val`` (a
    refit on train+val) every epoch runs and the last weights are kept; the plateau
    schedule then follows the training loss. Nothing here looks at the test split.

    With ``checkpoint``, the state after every epoch (weights, optimiser, schedule, random
    generators, history) is written there atomically, and a training that finds one
    continues after its last epoch, with the same result as if it had never stopped; the
    epochs it restores are passed to ``on_epoch`` again.
    """
    device = train.device
    channels_last = prepare_for(model, device)
    net = compiled(model) if config.compile else model  # ``model`` keeps the weights' names
    loss_fn = (criterion or nn.CrossEntropyLoss()).to(device)
    trainable = (p for p in model.parameters() if p.requires_grad)
    optimizer = create_optimizer(trainable, config, device=device)
    stopping = config.early_stopping if val is not None else None
    monitor = stopping.monitor if stopping else "val/f1_weighted"
    if val is None:
        monitor = "train/loss"
    maximize = bool(higher_is_better(monitor))
    scheduler = create_scheduler(optimizer, config, maximize=maximize)
    history, best_state, stale = History(), None, 0
    best = -np.inf
    if checkpoint is not None and checkpoint.is_file():
        history, best_state, best, stale = _restore(checkpoint, model, optimizer, scheduler, train)
        history.restored_epochs = len(history.epochs)
        for epoch, row in enumerate(history.epochs, start=1):
            if on_epoch is not None:
                on_epoch(epoch, row)
    start_epoch = len(history.epochs) + 1
    if stopping is not None and stale >= stopping.patience:
        start_epoch = config.epochs + 1  # it had stopped early before the interruption
    for epoch in range(start_epoch, config.epochs + 1):
        start = time.perf_counter()
        _train_mode(model)
        total_loss, seen = torch.zeros((), device=device), 0
        for step, (x, y) in enumerate(train, start=1):
            with _autocast(device):
                loss = loss_fn(net(_layout(x, channels_last)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            total_loss += loss.detach().float() * len(y)  # summed on the device: no sync
            seen += len(y)
            if on_batch is not None:
                on_batch(step, len(train))
        epoch_loss = total_loss.item() / max(seen, 1)  # the epoch's one read of the device
        history.train_seconds += time.perf_counter() - start
        history.images_seen += seen
        row = {"train/loss": epoch_loss, "train/lr": optimizer.param_groups[0]["lr"]}
        if val is not None:
            probs, labels, val_loss = _predict(
                net, val, with_loss=True, channels_last=channels_last
            )
            val_scores = score(labels, probs.argmax(axis=1))
            row |= {
                "val/loss": val_loss,
                "val/accuracy": val_scores["accuracy"],
                "val/f1_weighted": val_scores["f1_weighted"],
            }
        row["time/epoch_s"] = time.perf_counter() - start
        history.epochs.append(row)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(row[monitor])
        elif scheduler is not None:
            scheduler.step()
        current = row[monitor] if maximize else -row[monitor]
        if current > best:
            best, stale = current, 0
            history.best_epoch, history.best_score = epoch, row[monitor]
            if val is not None:
                best_state = copy.deepcopy(
                    {k: v.detach().cpu() for k, v in model.state_dict().items()}
                )
        else:
            stale += 1
        if checkpoint is not None:
            _save(checkpoint, model, optimizer, scheduler, train, history, best_state, best, stale)
        if on_epoch is not None:
            on_epoch(epoch, row)
        if stopping is not None and stale >= stopping.patience:
            history.stopped_early = epoch < config.epochs
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _save(path: Path, model, optimizer, scheduler, train: Batches, history: History,
          best_state, best: float, stale: int) -> None:  # fmt: skip
    """Write the training state after an epoch, atomically: a kill during the write leaves
    the previous checkpoint whole."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "batches_rng": train.generator.get_state(),
        "history": asdict(history),
        "best_state": best_state,
        "best": float(best),
        "stale": stale,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _restore(path: Path, model, optimizer, scheduler, train: Batches):
    """Load a checkpoint written by :func:`_save` (tensors and plain data only: no pickle)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise MedbenchError(
            f"the checkpoint {path} does not fit this training ({reason}); delete it to start over."
        ) from exc
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    train.generator.set_state(state["batches_rng"])
    history = History(**state["history"])
    return history, state["best_state"], state["best"], state["stale"]


def predict_proba(model: nn.Module, batches: Batches) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N × K) and the labels of ``batches``, in order."""
    channels_last = prepare_for(model, batches.device)
    probs, labels, _ = _predict(model, batches, with_loss=False, channels_last=channels_last)
    return probs, labels


@torch.inference_mode()
def _predict(model: nn.Module, batches: Batches, *, with_loss: bool, channels_last: bool):
    """Inference in the training's autocast; results stay on the device until the end."""
    model.eval()
    probs, labels = [], []
    loss_sum = torch.zeros((), device=batches.device)
    for x, y in batches:
        with _autocast(batches.device):
            logits = model(_layout(x, channels_last)).float()
        if with_loss:
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
        probs.append(logits.softmax(dim=1))
        labels.append(y)
    n = max(batches.num_images, 1)
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), 0.0
    return torch.cat(probs).cpu().numpy(), torch.cat(labels).cpu().numpy(), loss_sum.item() / n


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _train_mode(model: nn.Module) -> None:
    """Training mode, except frozen normalisation layers keep their running statistics."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()


def _autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
