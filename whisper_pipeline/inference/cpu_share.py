"""How many inference threads a worker process should run: the cores it may use (its CPU
affinity and its cgroup's CPU quota), less the cores other processes keep busy right now.

Why: torch's and CTranslate2's OpenMP threads spin at every barrier waiting for each other.
When one of them is descheduled because another process wants its core, the rest spin, and a
step becomes tens of times slower (measured in docs/models.md: diarization of a 60 s call 4.9 s
quiet, 62-87 s with one other busy process on this 2-core machine, 7.7 s with one thread).
So torch runs as many threads as there are free cores, re-measured while a step runs
(`ThreadGovernor.tick`, from the steps' progress callbacks), and never more than the cores the
process may use."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ADAPT_ENV = "WHISPER_PIPELINE_ADAPTIVE_THREADS"  # "0": a fixed thread count (cores pinned)
TICK_S = 0.5  # how often the free cores are measured while a step runs
START_LOOK_S = 0.2  # the first look, as a step starts (20 scheduler ticks per CPU)
BUSY_THRESHOLD = 0.5  # a core busy more than half the time is taken by someone else


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The cgroup's CPU quota in cores (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`), None when
    unlimited or unknown. A container limited to `--cpus 1.5` gets 1.5."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 else None
    except (OSError, ValueError):
        return None


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (taskset, a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def cores_allowed() -> int:
    """How many cores' work this process may do at once: its CPUs, capped by the cgroup quota
    (rounded up: a 1.5-core quota runs 2 threads, each at three quarters)."""
    cpus = len(allowed_cpus()) or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def threads_per_process(pool_size: int, cores: int | None = None) -> int:
    """Each of `pool_size` worker processes' share of the cores (at least one)."""
    return max(1, (cores or cores_allowed()) // max(1, pool_size))


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies per CPU (busy, total) and this process's own CPU time, at one moment."""

    per_cpu: dict[int, tuple[int, int]]
    own_s: float
    at: float


def read_cpu_times(stat: Path = Path("/proc/stat")) -> CpuTimes | None:
    """/proc/stat's per-CPU counters and this process's CPU time (None off Linux)."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    per_cpu = {}
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in fields[:8]]
        idle = values[3] + values[4]  # idle + iowait
        per_cpu[int(name[3:])] = (sum(values) - idle, sum(values))
    return CpuTimes(per_cpu, time.process_time(), time.monotonic())


def cores_busy_elsewhere(before: CpuTimes, after: CpuTimes, cpus: set[int]) -> float:
    """Cores of `cpus` kept busy by other processes between two readings: their busy time less
    this process's own (its spinning threads included), in cores."""
    busy = total = 0
    for cpu in cpus:
        if cpu in before.per_cpu and cpu in after.per_cpu:
            busy += after.per_cpu[cpu][0] - before.per_cpu[cpu][0]
            total += after.per_cpu[cpu][1] - before.per_cpu[cpu][1]
    if total <= 0:
        return 0.0
    wall_s = after.at - before.at
    cores_busy = len(cpus) * busy / total
    own_cores = (after.own_s - before.own_s) / wall_s if wall_s > 0 else 0.0
    return max(0.0, cores_busy - own_cores)


def free_cores(allowed: int, busy_elsewhere: float) -> int:
    """Threads to run: the allowed cores less those other processes keep busy (a core counts as
    taken past BUSY_THRESHOLD of its time), at least one."""
    taken = math.floor(busy_elsewhere + (1 - BUSY_THRESHOLD))
    return max(1, min(allowed, allowed - taken))


class ThreadGovernor:
    """Sets torch's thread count to the free cores, re-measured at most every TICK_S while a
    step calls `tick()`. With WHISPER_PIPELINE_ADAPTIVE_THREADS=0 it keeps the fixed count."""

    def __init__(self, allowed: int | None = None, adaptive: bool | None = None) -> None:
        self.allowed = allowed or cores_allowed()
        if adaptive is None:
            adaptive = os.environ.get(ADAPT_ENV, "1") != "0"
        self.adaptive = adaptive
        self.cpus = allowed_cpus()
        self._last: CpuTimes | None = None
        self.threads: int | None = None
        self.fewest: int | None = None  # the fewest threads a step ran with (shown in metadata)

    def start(self) -> int:
        """At a step's start: the free cores measured over a short look (START_LOOK_S), so a
        step that begins beside a busy process does not begin by spinning."""
        self.fewest = None
        before = read_cpu_times()
        if not self.adaptive or before is None:
            self._set(self.allowed)
            return self.allowed
        time.sleep(START_LOOK_S)
        self._last = read_cpu_times()
        self._set(free_cores(self.allowed, cores_busy_elsewhere(before, self._last, self.cpus)))
        return self.threads or self.allowed

    def tick(self) -> None:
        """Called often while a step runs (cheap: reads /proc at most every TICK_S)."""
        if not self.adaptive or self._last is None:
            return
        now = time.monotonic()
        if now - self._last.at < TICK_S:
            return
        current = read_cpu_times()
        if current is None:
            return
        busy = cores_busy_elsewhere(self._last, current, self.cpus)
        self._last = current
        self._set(free_cores(self.allowed, busy))

    def describe(self) -> str:
        """How many threads the step ran with: "2 of 2 cores", "1-2 of 2 cores (fewer while
        other processes were busy)"."""
        cores = f"of {self.allowed} core{'s' if self.allowed != 1 else ''}"
        if self.fewest is None or self.threads is None:
            return f"? {cores}"
        if self.fewest == self.allowed:
            return f"{self.allowed} {cores}"
        return f"{self.fewest}-{self.allowed} {cores} (fewer while other processes were busy)"

    def _set(self, threads: int) -> None:
        self.fewest = threads if self.fewest is None else min(self.fewest, threads)
        if threads == self.threads:
            return
        try:
            import torch

            torch.set_num_threads(threads)
        except Exception:  # never fail the work over a thread count
            log.warning("could not set torch's threads to %d", threads, exc_info=True)
            return
        if self.threads is not None:
            log.info("inference threads %d -> %d (free cores)", self.threads, threads)
        self.threads = threads


_GOVERNOR: ThreadGovernor | None = None


def governor() -> ThreadGovernor:
    """This process's governor (one per worker process: threads are a process-wide setting)."""
    global _GOVERNOR
    if _GOVERNOR is None:
        _GOVERNOR = ThreadGovernor(allowed=threads_budget())
    return _GOVERNOR


def threads_budget() -> int:
    """This process's share: OMP_NUM_THREADS when set (the worker sets it from its pool size),
    else every core it may use."""
    try:
        configured = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        configured = 0
    allowed = cores_allowed()
    return max(1, min(configured, allowed)) if configured > 0 else allowed
