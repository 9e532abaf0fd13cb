"""The run monitor: fails runs whose worker died or whose progress stalled, with step context,
and stops workers of canceled runs that hold on to their models.

Dagster 1.13 does none of this by itself with the default run launcher. A sensor evaluates
`find_stuck_runs` (pure: reads the instance) and `handle_stuck_run` (acts) every minute."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    ConfigurableResource,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._core.events import JobFailureData, RunFailureReason
from pydantic import Field

from whisper_pipeline.assets.step import (
    TAG_HOST,
    TAG_PID,
    TAG_PID_START,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_UPDATED,
    record_failure,
)
from whisper_pipeline.batch import PROCESS_BATCH
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.lib.processes import hostname, is_running, stop_process
from whisper_pipeline.lib.progress import format_duration
from whisper_pipeline.partitions import PARTITION_TAG
from whisper_pipeline.resources.storage import PipelineStorage

log = logging.getLogger(__name__)

MONITOR_STEP = "run_monitor"


@dataclass(frozen=True)
class MonitorLimits:
    stall_after_s: float = 900.0  # progress unchanged this long: stuck
    cancel_grace_s: float = 60.0  # a canceled run's worker may take this long to exit
    terminate_grace_s: float = 20.0  # SIGTERM to SIGKILL, for canceled runs


@dataclass(frozen=True)
class StuckRun:
    run_id: str
    recording_id: str | None
    kind: str  # "dead" | "stalled" | "canceled_alive"
    step: str | None
    segments: int | None
    pid: int | None
    pid_start: str | None
    age_s: float | None
    message: str

    @property
    def local(self) -> bool:
        return self.pid is not None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe_step(step: str | None, segments: int | None) -> str:
    if step is None:
        return "before its first step"
    return f"in step {step}" + (f" ({segments} segments)" if segments is not None else "")


def _last_update(instance: DagsterInstance, run: DagsterRun) -> float | None:
    updated = run.tags.get(TAG_UPDATED)
    if updated is not None:
        return float(updated)
    record = instance.get_run_record_by_id(run.run_id)
    return record.start_time if record and record.start_time else None


def _inspect(
    instance: DagsterInstance, run: DagsterRun, now: float, limits: MonitorLimits
) -> StuckRun | None:
    tags = run.tags
    step, segments = tags.get(TAG_STEP), _int(tags.get(TAG_SEGMENTS))
    local_pid = _int(tags.get(TAG_PID)) if tags.get(TAG_HOST) == hostname() else None
    pid_start = tags.get(TAG_PID_START)
    where = _describe_step(step, segments)
    updated = _last_update(instance, run)
    age = now - updated if updated is not None else None
    common = dict(
        run_id=run.run_id,
        recording_id=tags.get(PARTITION_TAG),
        step=step,
        segments=segments,
        pid=local_pid,
        pid_start=pid_start,
        age_s=age,
    )
    if run.status == DagsterRunStatus.CANCELED:
        if local_pid is not None and is_running(local_pid, pid_start):
            return StuckRun(
                kind="canceled_alive",
                message=(
                    f"Canceled run still held its worker {where} (pid {local_pid}); stopped it"
                ),
                **common,
            )
        return None
    if local_pid is not None and not is_running(local_pid, pid_start):
        return StuckRun(
            kind="dead", message=f"Run worker died {where} (pid {local_pid} gone)", **common
        )
    # a batch run's own progress waits on each recording's run, which is watched itself
    watch_stall = run.job_name != PROCESS_BATCH
    if watch_stall and age is not None and age > limits.stall_after_s:
        prefix = (
            f"Stuck in step {step}" + (f" ({segments} segments)" if segments is not None else "")
            if step
            else "Stuck before its first step"
        )
        return StuckRun(
            kind="stalled", message=f"{prefix}; last update {format_duration(age)} ago", **common
        )
    return None


def find_stuck_runs(instance: DagsterInstance, now: float, limits: MonitorLimits) -> list[StuckRun]:
    """Started runs of the pipeline (per recording and batches) whose worker is gone or whose
    progress stalled, and canceled ones whose worker is still alive."""
    found: list[StuckRun] = []
    runs: list[DagsterRun] = []
    for job_name in (PROCESS_RECORDING, PROCESS_BATCH):
        runs += instance.get_runs(
            RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.STARTED])
        )
        runs += instance.get_runs(
            RunsFilter(
                job_name=job_name,
                statuses=[DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING],
            ),
            limit=50,
        )
    for run in runs:
        if run.status == DagsterRunStatus.CANCELING:
            record = instance.get_run_record_by_id(run.run_id)
            since = record.update_timestamp.timestamp() if record else now
            if now - since < limits.cancel_grace_s:
                continue
            run = run.with_status(DagsterRunStatus.CANCELED)  # treat as canceled: stop its worker
        stuck = _inspect(instance, run, now, limits)
        if stuck is not None:
            found.append(stuck)
    return found


def handle_stuck_run(
    instance: DagsterInstance,
    storage: PipelineStorage | None,
    stuck: StuckRun,
    limits: MonitorLimits,
) -> str:
    """Stop what is left of the worker first (so a retry never runs beside it), then mark the
    run failed with the context and record a failures row. Canceled runs stay canceled."""
    stopped = "no local worker"
    if stuck.kind == "canceled_alive" and stuck.pid is not None:
        stopped = stop_process(stuck.pid, stuck.pid_start, limits.terminate_grace_s, graceful=True)
    elif stuck.kind == "stalled":
        if stuck.pid is not None:
            # a stalled worker does not answer SIGTERM in time; SIGKILL keeps it from reporting
            # its own (context-free) failure, and its memory goes with it
            stopped = stop_process(stuck.pid, stuck.pid_start, 0, graceful=False)
        else:
            try:
                instance.run_launcher.terminate(stuck.run_id)
                stopped = "terminate requested from the run launcher"
            except Exception as error:  # remote worker we cannot reach: still fail the run
                stopped = f"could not terminate ({error})"
    log.warning(
        "run monitor: %s (run %s, recording %s, step %s, segments %s, last update %s ago; worker %s)",
        stuck.message,
        stuck.run_id,
        stuck.recording_id,
        stuck.step,
        stuck.segments,
        format_duration(stuck.age_s),
        stopped,
    )
    if stuck.kind == "canceled_alive":
        instance.report_engine_event(
            f"Run monitor: {stuck.message} ({stopped})", instance.get_run_by_id(stuck.run_id)
        )
        return stopped
    run = instance.get_run_by_id(stuck.run_id)
    if run is not None and run.status == DagsterRunStatus.STARTED:
        instance.report_run_failed(
            run,
            stuck.message,
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
    if storage is not None and stuck.recording_id:
        try:
            record_failure(
                storage,
                stuck.recording_id,
                stuck.step or MONITOR_STEP,
                stuck.message,
                "RunMonitor",
                stuck.run_id,
                stuck.segments,
            )
        except Exception:
            log.exception("run monitor: could not record the failure of run %s", stuck.run_id)
    return stopped


class RunMonitorSettings(ConfigurableResource):
    """Thresholds of the run monitor."""

    stall_after_s: float = Field(
        default=900.0,
        description="A started run whose progress has not moved for this many seconds is stuck: its worker is killed and the run failed (then retried while retries remain). Long model downloads count as no progress.",
    )
    cancel_grace_s: float = Field(
        default=60.0,
        description="How long a canceled run's worker may take to exit before the monitor stops it.",
    )
    terminate_grace_s: float = Field(
        default=20.0, description="SIGTERM to SIGKILL delay when stopping a canceled run's worker."
    )

    def limits(self) -> MonitorLimits:
        return MonitorLimits(self.stall_after_s, self.cancel_grace_s, self.terminate_grace_s)


def monitor_runs(
    instance: DagsterInstance,
    storage: PipelineStorage | None,
    limits: MonitorLimits,
    now: float | None = None,
) -> list[tuple[StuckRun, str]]:
    """One pass of the monitor: find and handle. Returns what it did."""
    handled = []
    for stuck in find_stuck_runs(instance, time.time() if now is None else now, limits):
        handled.append((stuck, handle_stuck_run(instance, storage, stuck, limits)))
    return handled


@sensor(
    name="run_monitor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fails runs whose worker died or whose progress stalled (with step and segment context), and stops workers of canceled runs.",
)
def run_monitor(
    context: SensorEvaluationContext,
    storage: PipelineStorage,
    run_monitor_settings: RunMonitorSettings,
):
    handled = monitor_runs(context.instance, storage, run_monitor_settings.limits())
    for stuck, stopped in handled:
        context.log.warning(
            "%s: %s (run %s; worker %s)", stuck.recording_id, stuck.message, stuck.run_id, stopped
        )
    if not handled:
        return SkipReason(f"no stuck runs at {datetime.now(UTC):%H:%M:%S} UTC")
    return SkipReason("; ".join(f"{s.recording_id}: {s.message}" for s, _ in handled))
