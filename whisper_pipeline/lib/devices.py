"""Device and compute-type choice: `auto` means CUDA when present, else CPU."""

from __future__ import annotations

import contextlib
import os

from whisper_pipeline.lib.errors import ConfigurationError

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_devices() -> int:
    """GPUs CTranslate2 (the ASR engine) sees: a quick answer for a command that has not
    imported torch (cuda_available would import it, seconds on a laptop)."""
    try:
        import ctranslate2
    except ImportError:
        return 0
    return ctranslate2.get_cuda_device_count()


def resolve_device(device: str) -> str:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigurationError(f"device {device!r} is not one of {DEVICES} (or cuda:N)")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device.startswith("cuda") and not cuda_available():
        raise ConfigurationError(
            f"device {device!r} was asked for but CUDA is not available here; set device to auto or cpu"
        )
    return device


def resolve_compute_type(compute_type: str, device: str) -> str:
    """`auto`: float16 on CUDA, int8 on CPU (fast and accurate enough for Whisper)."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device.startswith("cuda") else "int8"


def resolve_threads(threads: int) -> int:
    """0 means what this process may use: OMP_NUM_THREADS when set (the convention torch and
    containers follow), else the cores it is allowed to run on. More threads than cores makes
    CPU inference many times slower, not faster."""
    if threads > 0:
        return threads
    with contextlib.suppress(ValueError):
        if int(os.environ.get("OMP_NUM_THREADS", "")) > 0:
            return int(os.environ["OMP_NUM_THREADS"])
    return usable_cores()


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
