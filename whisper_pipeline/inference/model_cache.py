"""A process-wide cache of loaded models: reference-counted borrowing, an LRU bound, eager and
idle release, and cleanup that frees accelerator memory and is logged, never swallowed."""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from whisper_pipeline.core import metrics

log = logging.getLogger(__name__)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def free_accelerator_memory(full: bool = False) -> None:
    """Collect Python garbage, give freed C heap pages back to the OS (glibc keeps them
    otherwise, so resident memory creeps up window after window), and hand cached CUDA blocks
    back to the driver. Routine calls collect only the young generations, where a window's or
    a step's garbage lives (a full collection of torch's and Dagster's heap takes ~0.5 s);
    `full` after a model is released or a step failed."""
    gc.collect() if full else gc.collect(1)
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    try:
        import torch
    except ImportError:  # torch is a dependency, but the cache itself does not need it
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def free_memory_logged(where: str, full: bool = False) -> None:
    """free_accelerator_memory for cleanup paths: a failure is logged with its traceback and
    never replaces the error being handled."""
    try:
        free_accelerator_memory(full)
    except Exception:
        log.exception("freeing accelerator memory failed (%s)", where)


@dataclass
class _Entry:
    key: Hashable
    model: Any
    release: Callable[[Any], None] | None
    load_seconds: float
    borrowers: int = 0
    last_returned: float = field(default_factory=time.monotonic)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    releases: int = 0


@dataclass(frozen=True)
class Borrowed:
    """What `borrow` yields: the model and whether it came from the cache."""

    model: Any
    cache_hit: bool
    load_seconds: float


class ModelCache:
    """Models keyed by their full configuration. `borrow` loads on a miss, counts borrowers and
    never evicts a model in use; at most `max_models` idle models stay loaded, and with
    `idle_seconds` a background thread releases models nobody borrowed for that long."""

    def __init__(self, max_models: int = 3, idle_seconds: float | None = None) -> None:
        self.max_models = max_models
        self.idle_seconds = idle_seconds
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self._reaper: threading.Thread | None = None
        self._stop_reaper = threading.Event()
        self._atexit_registered = False
        # set in long-lived run workers (whisper_pipeline.runtime.worker): runs leave their models loaded
        self.keep_between_runs = False

    def configure(self, max_models: int | None = None, idle_seconds: float | None = None) -> None:
        """Tighten or loosen the bounds (resources pass their settings on each borrow)."""
        with self._lock:
            if max_models is not None:
                self.max_models = max_models
                self._evict_over_bound()
            if idle_seconds is not None:
                self.idle_seconds = idle_seconds
                self._start_reaper()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def loaded_keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def borrowers(self, key: Hashable) -> int:
        with self._lock:
            entry = self._entries.get(key)
            return entry.borrowers if entry else 0

    @contextmanager
    def borrow(
        self,
        key: Hashable,
        load: Callable[[], Any],
        release: Callable[[Any], None] | None = None,
        eager_release: bool = False,
    ) -> Iterator[Borrowed]:
        """Yield the model for `key`, loading it with `load()` when absent. The borrow is
        returned also when the body raises; with `eager_release` the model is released as
        soon as its last borrower returns."""
        entry, hit = self._acquire(key, load, release)
        try:
            yield Borrowed(entry.model, hit, entry.load_seconds)
        finally:
            self._return(entry, eager_release)

    def _acquire(self, key, load, release) -> tuple[_Entry, bool]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.borrowers += 1
                self._entries.move_to_end(key)
                self.stats.hits += 1
                metrics.CACHE_HITS.labels(family=metrics.family(key)).inc()
                log.info("model reused from cache: %s", describe_key(key))
                return entry, True
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; others wait and then hit
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.borrowers += 1
                    self.stats.hits += 1
                    metrics.CACHE_HITS.labels(family=metrics.family(key)).inc()
                    return entry, True
            started = time.monotonic()
            model = load()
            seconds = time.monotonic() - started
            log.info("model loaded in %.1fs: %s", seconds, describe_key(key))
            with self._lock:
                entry = _Entry(key, model, release, seconds, borrowers=1)
                self._entries[key] = entry
                self.stats.misses += 1
                kind = metrics.family(key)
                metrics.CACHE_MISSES.labels(family=kind).inc()
                metrics.LOAD_SECONDS.labels(family=kind).observe(seconds)
                metrics.MODELS_LOADED.labels(family=kind).inc()
                self._loading.pop(key, None)
                self._evict_over_bound()
                self._register_atexit()
            return entry, False

    def _return(self, entry: _Entry, eager_release: bool) -> None:
        with self._lock:
            entry.borrowers -= 1
            entry.last_returned = time.monotonic()
            if entry.borrowers == 0 and eager_release:
                self._release(entry, reason="eager release")
            else:
                self._evict_over_bound()

    def _evict_over_bound(self) -> None:
        idle = [e for e in self._entries.values() if e.borrowers == 0]
        while len(self._entries) > self.max_models and idle:
            victim = idle.pop(0)  # least recently used first
            self.stats.evictions += 1
            self._release(victim, reason="evicted (cache bound)")

    def _release(self, entry: _Entry, reason: str, free_memory: bool = True) -> None:
        """Drop the model and run its release function; failures are logged with traceback.
        `free_memory`: collect garbage and hand memory back now (several releases in a row do
        that once, after the last)."""
        if self._entries.pop(entry.key, None) is not None:
            metrics.MODELS_LOADED.labels(family=metrics.family(entry.key)).dec()
        model, entry.model = entry.model, None
        self.stats.releases += 1
        try:
            if entry.release is not None:
                entry.release(model)
        except Exception:
            log.exception("releasing model failed (%s): %s", reason, describe_key(entry.key))
        del model
        if free_memory:
            free_memory_logged(f"after releasing {describe_key(entry.key)}", full=True)
        log.info("model released (%s): %s", reason, describe_key(entry.key))

    def release(self, key: Hashable, reason: str = "released") -> bool:
        """Release one model now if nobody borrows it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.borrowers:
                return False
            self._release(entry, reason)
            return True

    def release_idle(self, idle_seconds: float) -> int:
        """Release models nobody has borrowed for `idle_seconds`; return how many."""
        now = time.monotonic()
        with self._lock:
            stale = [
                e
                for e in self._entries.values()
                if e.borrowers == 0 and now - e.last_returned >= idle_seconds
            ]
            for entry in stale:
                self._release(entry, reason=f"idle for {idle_seconds:.0f}s")
            return len(stale)

    def clear(self, force: bool = False, reason: str = "cache cleared") -> int:
        """Release every idle model, and with `force` the borrowed ones too (shutdown)."""
        with self._lock:
            targets = [e for e in self._entries.values() if force or e.borrowers == 0]
            for entry in targets:
                reason_given = reason + (" (forced)" if force else "")
                self._release(entry, reason=reason_given, free_memory=False)
            if targets:
                free_memory_logged(f"after releasing {len(targets)} model(s)", full=True)
            return len(targets)

    def _start_reaper(self) -> None:
        if self._reaper is not None and self._reaper.is_alive():
            return
        self._stop_reaper.clear()
        self._reaper = threading.Thread(target=self._reap, name="model-cache-reaper", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        while not self._stop_reaper.wait(
            timeout=max(0.2, min(30.0, (self.idle_seconds or 60) / 4))
        ):
            if self.idle_seconds:
                try:
                    self.release_idle(self.idle_seconds)
                except Exception:
                    log.exception("idle model release failed")

    def _register_atexit(self) -> None:
        if not self._atexit_registered:
            atexit.register(self.shutdown)
            self._atexit_registered = True

    def shutdown(self) -> None:
        """Release everything (interpreter exit, SIGTERM, Ctrl+C)."""
        self._stop_reaper.set()
        if self._entries:
            self.clear(force=True, reason="process shutdown")


def describe_key(key: Hashable) -> str:
    """'asr bundled:tiny.en (cpu, int8, ...)' for a tuple key."""
    if isinstance(key, tuple) and len(key) > 2:
        details = ", ".join(str(part) for part in key[2:] if part is not None)
        return f"{key[0]} {key[1]} ({details})"
    if isinstance(key, tuple):
        return " ".join(str(part) for part in key)
    return str(key)


MODEL_CACHE = ModelCache()


def quiet_checkpoint_upgrade_notices() -> None:
    """Lightning announces at INFO that it upgraded the bundled VAD checkpoint on every load."""
    for name in (
        "lightning.pytorch.utilities.migration.utils",
        "pytorch_lightning.utilities.migration.utils",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
