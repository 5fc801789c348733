"""Which workers a machine runs: ``--devices`` and the worker counts → one slot per worker.

Each GPU worker sees only its own device (``CUDA_VISIBLE_DEVICES``), so inside it the
device is ``cuda:0`` and nothing is ever allocated on another GPU; the CPU cores are split
between the workers (``torch.set_num_threads``). The launcher's own mask, when it has one
(``CUDA_VISIBLE_DEVICES=4,5``, a SLURM job without cgroups), is honoured: its logical GPU 0
is physical GPU 4.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchmark.errors import MedbenchError

__all__ = ["Slot", "nvml_index", "plan_slots"]


@dataclass(frozen=True)
class Slot:
    name: str  # w1, w2, ...
    device: str  # as the machine names it: cpu, cuda:2
    threads: int

    def visible(self, inherited: str | None = None) -> str:
        """``CUDA_VISIBLE_DEVICES`` for this worker (empty for a CPU worker): its device's
        entry in the launcher's own mask (``inherited``, default the environment's)."""
        if not self.device.startswith("cuda"):
            return ""
        return visible_entry(int(self.device.removeprefix("cuda:")), inherited)

    @property
    def local_device(self) -> str:
        """The device as the worker itself names it (it sees one GPU only)."""
        return "cuda:0" if self.device.startswith("cuda") else "cpu"


def visible_entry(index: int, inherited: str | None = None) -> str:
    """What names logical GPU ``index`` of this process to a child: the ``index``-th entry
    of this process's ``CUDA_VISIBLE_DEVICES`` (an index, a ``GPU-`` UUID or a ``MIG-``
    id, as CUDA accepts them), or the index itself when the variable is unset."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES") if inherited is None else inherited
    if mask is None:
        return str(index)
    entries = []
    for entry in (part.strip() for part in mask.split(",")):
        if not entry or entry.startswith("-"):
            break  # CUDA ignores a mask from its first empty or negative entry on
        entries.append(entry)
    if index >= len(entries):
        raise MedbenchError(
            f"GPU {index} is not among the {len(entries)} that CUDA_VISIBLE_DEVICES={mask!r} "
            "lets this process see."
        )
    return entries[index]


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan_slots(
    devices: str,
    *,
    workers: int | None = None,
    per_device: int = 1,
    cores: int | None = None,
    gpus: int | None = None,
) -> list[Slot]:
    """``auto`` (the first GPU, else the CPU), ``all`` (every GPU), ``cpu`` or
    ``cuda:0,cuda:2``; ``workers`` CPU workers, ``per_device`` workers on each GPU."""
    cores = cores or os.cpu_count() or 1
    spec = devices.strip().lower()
    if per_device < 1:
        raise MedbenchError(f"--workers-per-device must be at least 1, but got {per_device}.")
    if workers is not None and workers < 1:
        raise MedbenchError(f"--workers must be at least 1, but got {workers}.")
    if spec in ("auto", "all"):
        gpus = _gpu_count() if gpus is None else gpus
        if gpus == 0:
            spec = "cpu"
        else:
            spec = ",".join(f"cuda:{i}" for i in range(gpus if spec == "all" else 1))
    if spec == "cpu":
        count = workers or 1
        threads = max(cores // count, 1)
        return [Slot(f"w{k + 1}", "cpu", threads) for k in range(count)]
    names = [part.strip() for part in spec.split(",") if part.strip()]
    bad = [n for n in names if not (n.startswith("cuda:") and n[5:].isdigit())]
    if bad or not names:
        raise MedbenchError(
            f"--devices {devices}: expected auto, all, cpu or a list such as cuda:0,cuda:1, "
            f"but got {bad or devices!r}."
        )
    if workers is not None:
        raise MedbenchError(
            f"--workers {workers} counts CPU workers; on GPUs use --workers-per-device "
            f"(here: {len(names)} device(s) × --workers-per-device)."
        )
    gpus = _gpu_count() if gpus is None else gpus
    missing = [n for n in names if int(n[5:]) >= gpus]
    if missing:
        available = [f"cuda:{i}" for i in range(gpus)] or "none (no CUDA here)"
        raise MedbenchError(
            f"--devices {devices}: {missing} not found; the GPUs here are {available}."
        )
    if len(set(names)) != len(names):
        raise MedbenchError(f"--devices {devices} names a device twice.")
    total = len(names) * per_device
    threads = max(cores // total, 1)
    return [
        Slot(f"w{k * per_device + j + 1}", name, threads)
        for k, name in enumerate(names)
        for j in range(per_device)
    ]


def nvml_index(device) -> str | None:
    """NVML's number for a CUDA device (MLflow's GPU system metrics are named by it), found by
    the device's UUID: NVML ignores ``CUDA_VISIBLE_DEVICES`` and CUDA's own device order.
    None on a CPU, or without NVML."""
    if getattr(device, "type", None) != "cuda":
        return None
    try:
        import pynvml
        import torch

        uuid = str(torch.cuda.get_device_properties(device).uuid).removeprefix("GPU-")
        pynvml.nvmlInit()
        for index in range(pynvml.nvmlDeviceGetCount()):
            other = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(index))
            other = other.decode() if isinstance(other, bytes) else str(other)
            if other.removeprefix("GPU-") == uuid:
                return str(index)
    except Exception:  # no NVML library or driver: the GPU metrics are missing anyway
        return None
    return None
