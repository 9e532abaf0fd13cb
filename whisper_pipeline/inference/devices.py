"""Device and compute-type choice: `auto` means CUDA when present, else CPU."""

from __future__ import annotations

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.inference.cpu_share import threads_budget

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
    """CTranslate2's threads: `threads` when set, else half this process's budget (at least
    one). Its thread pool cannot shrink while it runs, and its threads spin at every barrier:
    beside another busy process two threads on two cores made transcription of a 60 s call
    take 46 s instead of 5.6; one thread takes 5.0 s quiet and 6.9 s beside that process, and
    on this 2-core machine is no slower than two when alone (docs/models.md)."""
    if threads > 0:
        return threads
    return max(1, threads_budget() // 2)
