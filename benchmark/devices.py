"""The device a process computes on: which one, made current, how a model is laid out on it,
the precision it computes in, and who else may be timing on it.

Training, evaluation, latency, the predictor and the app share these, so a model answers in
the precision and layout it was evaluated in.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import MedbenchError

__all__ = [
    "autocast",
    "autocast_dtype",
    "device_lock",
    "grad_scaler",
    "layout",
    "prepare_for",
    "resolve_device",
    "use_device",
]


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks the first CUDA device when there is one, else the CPU."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MedbenchError(f"device '{spec}' was asked for, but CUDA is not available here.")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def use_device(device: torch.device) -> None:
    """Make ``device`` this process's current CUDA device: streams, events and allocations
    that name no device land there (not on GPU 0, where a stray context would open and
    latency events would time another GPU). Nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


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


def layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in the layout :func:`prepare_for` gave the model."""
    if not channels_last or x.dim() != 4:  # features (N × D) have no layout
        return x
    return x.contiguous(memory_format=torch.channels_last)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed precision of ``device``: bfloat16 on a GPU that computes it natively,
    float16 (with a gradient scaler in training) on one that does not (before Ampere); none
    on a CPU. Asked of the current device, which :func:`use_device` made this one."""
    if device.type != "cuda":
        return None
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native else torch.float16


def autocast(device: torch.device) -> AbstractContextManager:
    """The autocast every forward pass on ``device`` runs under (training, evaluation,
    latency, prediction)."""
    dtype = autocast_dtype(device)
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler | None:
    """float16 gradients underflow without loss scaling; bfloat16 and float32 need none."""
    if autocast_dtype(device) is torch.float16:
        return torch.amp.GradScaler(device.type)
    return None


def gpu_identity(device: torch.device) -> str:
    """The physical GPU behind ``device``: its UUID, the same in every process whatever
    ``CUDA_VISIBLE_DEVICES`` each one sees."""
    return str(torch.cuda.get_device_properties(device).uuid)


@contextlib.contextmanager
def device_lock(
    device: torch.device, *, exclusive: bool = False, folder: Path | None = None
) -> Iterator[None]:
    """Coordinates the workers that share one physical GPU (``--workers-per-device``):
    training holds it shared (an epoch at a time), timing holds it exclusively, so latency
    is never measured while another worker trains or times there. A lock file per GPU,
    named by its UUID (``flock``: released by the kernel when a worker dies); nothing on a
    CPU or where ``flock`` does not exist."""
    if device.type != "cuda":
        yield
        return
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        yield
        return
    name = hashlib.sha256(gpu_identity(device).encode()).hexdigest()[:16]
    path = (folder or Path(tempfile.gettempdir())) / f"medbench-gpu-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
