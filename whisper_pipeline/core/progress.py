"""One small progress reporter for long steps: step, start, segments, percent of audio, ETA.

Updates go to sinks (Dagster log, run tags, a Python logger). They are throttled, and a sink
that fails is logged and skipped: reporting progress never fails the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from whisper_pipeline.core.tags import TAG_SEGMENTS, TAG_STEP, TAG_UPDATED, read_time_tag

log = logging.getLogger(__name__)


def format_duration(seconds: float | None) -> str:
    """1h02m, 28m12s, 45s."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class ProgressSnapshot:
    step: str
    recording_id: str
    started_at: float  # epoch seconds
    updated_at: float
    segments: int | None
    position_s: float | None
    duration_s: float | None

    @property
    def fraction(self) -> float | None:
        if self.position_s is None or not self.duration_s:
            return None
        return min(max(self.position_s / self.duration_s, 0.0), 1.0)

    @property
    def elapsed_s(self) -> float:
        return max(self.updated_at - self.started_at, 0.0)

    @property
    def eta_s(self) -> float | None:
        fraction = self.fraction
        if not fraction or fraction <= 0:
            return None
        return self.elapsed_s * (1 - fraction) / fraction

    def describe(self) -> str:
        parts = [] if self.segments is None else [f"{self.segments} segments"]
        if self.fraction is not None:
            parts.append(f"{self.fraction:.0%} of {format_duration(self.duration_s)} audio")
        parts.append(f"elapsed {format_duration(self.elapsed_s)}")
        if self.eta_s is not None:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        return f"{self.step}: " + ", ".join(parts)


Sink = Callable[[ProgressSnapshot], None]


class ProgressReporter:
    """Collects progress of one step and forwards it to sinks at most every `min_interval_s`."""

    def __init__(
        self,
        step: str,
        recording_id: str,
        duration_s: float | None,
        sinks: Sequence[Sink],
        min_interval_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.step = step
        self.recording_id = recording_id
        self.duration_s = duration_s
        self.sinks = list(sinks)
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.started_at = clock()
        self.segments: int | None = None
        self.position_s: float | None = 0.0 if duration_s else None
        self._last_sent = float("-inf")

    def snapshot(self) -> ProgressSnapshot:
        return ProgressSnapshot(
            self.step,
            self.recording_id,
            self.started_at,
            self.clock(),
            self.segments,
            self.position_s,
            self.duration_s,
        )

    def update(
        self, position_s: float | None = None, segments: int | None = None, force: bool = False
    ) -> None:
        """Record progress; never raises."""
        try:
            if position_s is not None:
                self.position_s = position_s
            if segments is not None:
                self.segments = segments
            now = self.clock()
            if force or now - self._last_sent >= self.min_interval_s:
                self._last_sent = now
                self._emit(self.snapshot())
        except Exception:
            log.exception("progress update failed (ignored)")

    def _emit(self, snapshot: ProgressSnapshot) -> None:
        for sink in self.sinks:
            try:
                sink(snapshot)
            except Exception:
                log.warning("progress sink %r failed (ignored)", sink, exc_info=True)


def describe_progress(tags: Mapping[str, str], now: float | None = None) -> str:
    """'in step transcribe (45 segments); last update 16m ago', from a run's progress tags."""
    step, segments = tags.get(TAG_STEP), tags.get(TAG_SEGMENTS)
    if step is None:
        where = "before its first step"
    else:
        where = f"in step {step}" + (f" ({segments} segments)" if segments is not None else "")
    updated = read_time_tag(tags.get(TAG_UPDATED))
    if updated is None:
        return where
    age = (time.time() if now is None else now) - updated
    return f"{where}; last update {format_duration(age)} ago"


def worker_died_message(tags: Mapping[str, str], why: str) -> str:
    """'Run worker died in step transcribe (45 segments); last update 12s ago (why)'."""
    return f"Run worker died {describe_progress(tags)} ({why})"


def outcome_progress(run) -> str:
    """A finished run's progress as people read it: done, canceled, or failed in its step."""
    from whisper_pipeline.core.tags import own_tags

    status = run.status.value
    if status == "SUCCESS":
        return "done"
    step = own_tags(run).get(TAG_STEP)
    where = f" in {step}" if step else ""
    return f"canceled{where}" if status == "CANCELED" else f"failed{where}"
