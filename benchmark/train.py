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

from benchmark.data import Batches, FeatureBatches
from benchmark.devices import autocast, device_lock, grad_scaler, layout, prepare_for
from benchmark.errors import MedbenchError
from benchmark.metrics import higher_is_better
from benchmark.suite import TrainConfig
from benchmark.tasks import Task, create_task

__all__ = [
    "History",
    "compiled",
    "create_optimizer",
    "create_scheduler",
    "fit",
    "predict_proba",
    "validate",
]

EpochCallback = Callable[[int, dict[str, float]], None]
BatchCallback = Callable[[int, int], None]
AnyBatches = Batches | FeatureBatches  # images, or a frozen backbone's features


@dataclass
class History:
    """Per-epoch metrics (``train/loss``, ``val/loss``, ``val/accuracy``, ...) and totals."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("nan")
    stopped_early: bool = False
    train_seconds: float = 0.0  # training steps only, warm-up and validation excluded
    images_seen: int = 0  # in those steps
    warmup_seconds: float = 0.0  # the first step (compiling, cuDNN's autotuning)
    checkpoint_seconds: float = 0.0  # writing checkpoints
    restored_epochs: int = 0  # epochs taken from a checkpoint instead of trained again

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.train_seconds if self.train_seconds else 0.0


def create_optimizer(
    params: Iterable[nn.Parameter], config: TrainConfig, *, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """The optimiser of ``config``; on a GPU its fused implementation (one kernel for all
    parameters)."""
    params = list(params)
    fused = True if device is not None and device.type == "cuda" else None  # None: torch's choice
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            fused=fused,
        )  # fmt: skip
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


def compiled(model: nn.Module, *, mode: str | None = None) -> nn.Module:
    """``torch.compile(model)`` for static shapes (each input shape gets a graph of its own:
    a batch of 32 is never served by a dynamic graph compiled after a batch of 1), whose
    failures (it compiles at its first calls: no C++ compiler, an unsupported Python or
    operator) are clear errors that say how to do without it. The compiler's caches are
    cleared first: a worker compiles model after model, and past its recompile limit torch
    would silently run the rest eagerly."""
    with _compile_errors():
        torch._dynamo.reset()
        return _Compiled(torch.compile(model, mode=mode, dynamic=False))


def release_compiled() -> None:
    """Free what compiled models hold (their graphs, CUDA graphs' memory pools)."""
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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
    train: AnyBatches,
    val: AnyBatches | None,
    *,
    config: TrainConfig,
    criterion: nn.Module | None = None,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    checkpoint: Path | None = None,
    task: Task | None = None,
) -> History:
    """Train ``model`` in place for ``config.epochs`` with early stopping on ``val``.

    The weights of the best validation epoch are restored at the end. Without ``val`` (a
    refit on train+val) every epoch runs and the last weights are kept; the plateau
    schedule then follows the training loss. Nothing here looks at the test split.

    With ``checkpoint``, the state after an epoch (weights, optimiser, schedule, random
    generators, history) is written there atomically, every epoch or, when epochs are
    short, once per ``MEDBENCH_CHECKPOINT_EVERY_S``; a training that finds one continues
    after its last epoch, with the same result as if it had never stopped (on a GPU, close
    to it: cuDNN's autotuner and CUDA's nondeterministic kernels vary between processes);
    the epochs it restores are passed to ``on_epoch`` again. A compiled model trains on
    full batches only (one static shape: no recompiling). ``FeatureBatches`` train a head
    (its ``model``) on a frozen backbone's features the same way. ``task`` (default:
    multiclass) says what the labels are: the loss when ``criterion`` is not given, the
    probabilities and scores of each validation pass.
    """
    task = task or create_task()
    device = train.device
    channels_last = prepare_for(model, device)
    net = compiled(model) if config.compile else model  # ``model`` keeps the weights' names
    loss_fn = (criterion or task.loss()).to(device)
    trainable = (p for p in model.parameters() if p.requires_grad)
    optimizer = create_optimizer(trainable, config, device=device)
    step = _Step(net, loss_fn, optimizer, model=model, config=config, channels_last=channels_last)
    stopping = config.early_stopping if val is not None else None
    monitor: str = (stopping.monitor if stopping else None) or task.objective
    if val is None:
        monitor = "train/loss"
    maximize = bool(higher_is_better(monitor))
    scheduler = create_scheduler(optimizer, config, maximize=maximize)
    history, best_state, stale = History(), None, 0
    best = -np.inf
    if checkpoint is not None and checkpoint.is_file():
        history, best_state, best, stale = _restore(
            checkpoint, model, optimizer, scheduler, step.scaler, train
        )
        history.restored_epochs = len(history.epochs)
        for epoch, row in enumerate(history.epochs, start=1):
            if on_epoch is not None:
                on_epoch(epoch, row)
    start_epoch = len(history.epochs) + 1
    if stopping is not None and stale >= stopping.patience:
        start_epoch = config.epochs + 1  # it had stopped early before the interruption
    saved_at = time.monotonic()
    for epoch in range(start_epoch, config.epochs + 1):
        start = time.perf_counter()
        with device_lock(device):  # latency is never timed on this GPU meanwhile
            row = step.epoch(train, history, on_batch=on_batch, warm=epoch == start_epoch)
            row["train/lr"] = optimizer.param_groups[0]["lr"]
            if val is not None:
                row |= _validate(net, val, channels_last=channels_last, task=task)
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
        if checkpoint is not None and time.monotonic() - saved_at >= _checkpoint_every_s():
            written = time.perf_counter()
            _save(checkpoint, model, optimizer, scheduler, step.scaler, train, history,
                  best_state, best, stale)  # fmt: skip
            history.checkpoint_seconds += time.perf_counter() - written
            saved_at = time.monotonic()
        if on_epoch is not None:
            on_epoch(epoch, row)
        if stopping is not None and stale >= stopping.patience:
            history.stopped_early = epoch < config.epochs
            break
    optimizer.zero_grad(set_to_none=True)  # no gradients outlive the training
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _checkpoint_every_s() -> float:
    from benchmark.settings import settings

    return settings().checkpoint_every_s


class _Step:
    """One optimiser step per batch, in the device's mixed precision (float16 with a
    gradient scaler where bfloat16 is not native)."""

    def __init__(self, net, loss_fn, optimizer, *, model, config: TrainConfig,
                 channels_last: bool) -> None:  # fmt: skip
        self.net, self.loss_fn, self.optimizer = net, loss_fn, optimizer
        self.model, self.config, self.channels_last = model, config, channels_last
        self.scaler = grad_scaler(next(model.parameters()).device)

    def epoch(self, train: AnyBatches, history: History, *, on_batch: BatchCallback | None,
              warm: bool) -> dict[str, float]:  # fmt: skip
        """Train one epoch; the first step of the first epoch a process runs (compiling,
        cuDNN's autotuning) is warm-up, kept out of the throughput (``time/warmup_s``)."""
        device, config = train.device, self.config
        _train_mode(self.model)
        total_loss, count, timed = torch.zeros((), device=device), 0, 0
        start = time.perf_counter()
        batches = train.epoch(drop_last=config.compile)
        for number, (x, y) in enumerate(batches, start=1):
            with autocast(device):
                loss = self.loss_fn(self.net(layout(x, self.channels_last)), y)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            total_loss += loss.detach().float() * len(y)  # summed on the device: no sync
            count, timed = count + len(y), timed + len(y)
            if warm and number == 1:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)  # once per training: the warm-up's end
                history.warmup_seconds += time.perf_counter() - start
                start, timed = time.perf_counter(), 0
            if on_batch is not None:
                on_batch(number, len(train))
        epoch_loss = total_loss.item() / max(count, 1)  # the epoch's one read of the device
        history.train_seconds += time.perf_counter() - start
        history.images_seen += timed
        return {"train/loss": epoch_loss}


def _save(path: Path, model, optimizer, scheduler, scaler, train: AnyBatches, history: History,
          best_state, best: float, stale: int) -> None:  # fmt: skip
    """Write the training state after an epoch, atomically: a kill during the write leaves
    the previous checkpoint whole."""
    device = train.device
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": torch.get_rng_state(),
        # The training device's generator only: a checkpoint resumes on any GPU of a
        # machine that sees any number of them.
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
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


def _restore(path: Path, model, optimizer, scheduler, scaler, train: AnyBatches):
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
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    cuda_rng = state.get("cuda_rng")
    if isinstance(cuda_rng, torch.Tensor) and train.device.type == "cuda":
        torch.cuda.set_rng_state(cuda_rng, train.device)  # onto the device training now
    train.generator.set_state(state["batches_rng"])
    history = History(**state["history"])
    return history, state["best_state"], state["best"], state["stale"]


def validate(model: nn.Module, batches: AnyBatches, *, task: Task | None = None
             ) -> dict[str, float]:  # fmt: skip
    """``val/loss``, ``val/accuracy``, ``val/f1_weighted`` (and ``val/auroc_macro`` where
    defined) of ``model`` on ``batches``, as :func:`fit` records them each epoch (a head
    fitted without epochs reports them so)."""
    channels_last = prepare_for(model, batches.device)
    return _validate(model, batches, channels_last=channels_last, task=task or create_task())


def _validate(model: nn.Module, batches: AnyBatches, *, channels_last: bool,
              task: Task) -> dict[str, float]:  # fmt: skip
    probs, labels, loss = _predict(
        model, batches, with_loss=True, channels_last=channels_last, task=task
    )
    return {"val/loss": loss} | {f"val/{k}": v for k, v in task.val_scores(labels, probs).items()}


def predict_proba(model: nn.Module, batches: AnyBatches, *, task: Task | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Probabilities (N × K classes; N × L labels for a multi-label ``task``) and the labels
    of ``batches``, in order."""
    channels_last = prepare_for(model, batches.device)
    probs, labels, _ = _predict(
        model, batches, with_loss=False, channels_last=channels_last, task=task or create_task()
    )
    return probs, labels


@torch.inference_mode()
def _predict(model: nn.Module, batches: AnyBatches, *, with_loss: bool, channels_last: bool,
             task: Task):  # fmt: skip
    """Inference in the training's autocast; results stay on the device until the end."""
    model.eval()
    probs, labels = [], []
    loss_sum = torch.zeros((), device=batches.device)
    for x, y in batches:
        with autocast(batches.device):
            logits = model(layout(x, channels_last)).float()
        if with_loss:
            loss_sum += task.loss_sum(logits, y)
        probs.append(task.probabilities(logits))
        labels.append(y)
    n = max(batches.num_images, 1)
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), 0.0
    return torch.cat(probs).cpu().numpy(), torch.cat(labels).cpu().numpy(), loss_sum.item() / n


def _train_mode(model: nn.Module) -> None:
    """Training mode, except frozen normalisation layers keep their running statistics."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()
