"""What a run worker measures of its own work, as Prometheus metrics: observed where it happens
(a step ends, a model loads or is released) and exported by the worker's metrics endpoint
(runtime/worker_metrics.py). A worker started with a metrics port sets PROMETHEUS_MULTIPROC_DIR
before any of this is imported, so the values its pool processes observe reach its one
endpoint (prometheus_client's multiprocess mode); elsewhere (the CLI, tests) they are plain
in-process values nobody scrapes, at no cost worth counting. docs/monitoring.md lists them."""

from __future__ import annotations

import logging
from collections.abc import Hashable

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

STEP_SECONDS = Histogram(
    "whisper_step_duration_seconds",
    "Wall time of a pipeline step that succeeded, by step, model and device.",
    ["step", "model", "device"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400, 3600),
)
STEP_RTF = Histogram(
    "whisper_step_realtime_factor",
    "Seconds of work per second of audio of a model step that succeeded (under 1: faster than"
    " real time), by step, model and device.",
    ["step", "model", "device"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)
CACHE_HITS = Counter(
    "whisper_model_cache_hits_total", "Model borrows served by a loaded model.", ["family"]
)
CACHE_MISSES = Counter(
    "whisper_model_cache_misses_total", "Model borrows that had to load the model.", ["family"]
)
LOAD_SECONDS = Histogram(
    "whisper_model_load_seconds",
    "Time to load a model, by family.",
    ["family"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
MODELS_LOADED = Gauge(
    "whisper_models_loaded",
    "Models held in memory by the worker's processes, by family.",
    ["family"],
    multiprocess_mode="livesum",
)
CUDA_ALLOCATED = Gauge(
    "whisper_cuda_memory_allocated_bytes",
    "CUDA memory torch has allocated, per device (sampled when a step ends).",
    ["device"],
    multiprocess_mode="livesum",
)
CUDA_RESERVED = Gauge(
    "whisper_cuda_memory_reserved_bytes",
    "CUDA memory torch's caching allocator holds, per device (sampled when a step ends).",
    ["device"],
    multiprocess_mode="livesum",
)


def family(key: Hashable) -> str:
    """A model cache key's family (`asr`, `diarization`, ...): a label with few values."""
    if isinstance(key, tuple) and key and isinstance(key[0], str):
        return key[0]
    return "other"


def observe_step(step: str, seconds: float, audio_s: float | None, model: str, device: str) -> None:
    """A step that succeeded: its duration and, for a step through the audio, its RTF."""
    try:
        labels = {"step": step, "model": model or "none", "device": device or "none"}
        STEP_SECONDS.labels(**labels).observe(seconds)
        if audio_s:
            STEP_RTF.labels(**labels).observe(seconds / audio_s)
        sample_cuda_memory()
    except Exception:  # a metric must never fail a step
        log.exception("could not observe step %s", step)


def sample_cuda_memory() -> None:
    """torch's allocated and reserved CUDA memory per device, when torch is loaded and a
    device is present (never imports torch itself)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return
    for index in range(torch.cuda.device_count()):
        device = f"cuda:{index}"
        CUDA_ALLOCATED.labels(device=device).set(torch.cuda.memory_allocated(index))
        CUDA_RESERVED.labels(device=device).set(torch.cuda.memory_reserved(index))
