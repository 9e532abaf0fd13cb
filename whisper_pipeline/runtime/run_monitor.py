"""The run monitor: fails runs whose progress stalled, with step context.

Dead workers are Dagster's run monitoring's job: it asks the run launcher (runtime/launcher.py) about
each started run's worker, and the launcher answers with the step the run was in. What neither
detects is a worker that is alive but stuck (a hung decoder, a deadlocked library): its progress
tags stop moving. This sensor finds those runs (`find_stalled_runs`, pure: reads the instance),
terminates them through the run launcher and fails them with where they were stuck; Dagster's
run retries then launch them again."""

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
from pydantic import Field

from whisper_pipeline.adapters.dagster_internals import unexpected_termination
from whisper_pipeline.core.progress import describe_progress
from whisper_pipeline.core.tags import (
    PARTITION_TAG,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_UPDATED,
    own_tags,
    read_time_tag,
)
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.runtime.run_health import record_run_failure, settle_dead_runs

log = logging.getLogger(__name__)

MONITOR_STEP = "run_monitor"


@dataclass(frozen=True)
class StalledRun:
    run_id: str
    recording_id: str | None
    step: str | None
    segments: int | None
    age_s: float
    message: str


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _last_update(instance: DagsterInstance, run: DagsterRun) -> float | None:
    updated = read_time_tag(own_tags(run).get(TAG_UPDATED))
    if updated is not None:
        return updated
    record = instance.get_run_record_by_id(run.run_id)
    return record.start_time if record and record.start_time else None


def find_stalled_runs(
    instance: DagsterInstance, now: float, stall_after_s: float
) -> list[StalledRun]:
    """Started per-recording runs whose progress has not moved for `stall_after_s`."""
    found = []
    for run in instance.get_runs(
        RunsFilter(job_name=PROCESS_RECORDING, statuses=[DagsterRunStatus.STARTED])
    ):
        updated = _last_update(instance, run)
        if updated is None or now - updated <= stall_after_s:
            continue
        tags = own_tags(run)
        message = "Stuck " + describe_progress(tags, now)
        found.append(
            StalledRun(
                run_id=run.run_id,
                recording_id=run.tags.get(PARTITION_TAG),
                step=tags.get(TAG_STEP),
                segments=_int(tags.get(TAG_SEGMENTS)),
                age_s=now - updated,
                message=message,
            )
        )
    return found


def fail_stalled_run(
    instance: DagsterInstance, storage: PipelineStorage | None, stalled: StalledRun
) -> str:
    """Stop the worker's process first (so a retry never runs beside it), then fail the run
    with its context and record a failures row. Returns how the stopping went."""
    from whisper_pipeline.runtime.launcher import PipelineRunLauncher  # Celery: only when acting

    launcher = instance.run_launcher
    stop = launcher.kill if isinstance(launcher, PipelineRunLauncher) else launcher.terminate
    try:
        stopped = "stopped" if stop(stalled.run_id) else "not stopped"
    except Exception as error:  # a worker we cannot reach: still fail the run
        stopped = f"could not terminate ({error})"
    log.warning("run monitor: %s (run %s; worker %s)", stalled.message, stalled.run_id, stopped)
    run = instance.get_run_by_id(stalled.run_id)
    if run is not None and run.status == DagsterRunStatus.STARTED:
        instance.report_run_failed(
            run,
            stalled.message,
            unexpected_termination(),
        )
    if run is not None:  # no row when a later run of the recording has succeeded since
        record_run_failure(instance, storage, run, stalled.message, "RunMonitor", MONITOR_STEP)
    return stopped


class RunMonitorSettings(ConfigurableResource):
    """Threshold of the run monitor."""

    stall_after_s: float = Field(
        default=900.0,
        description="A started run whose progress has not moved for this many seconds is stuck: it is terminated and failed (then retried while retries remain). Long model downloads count as no progress.",
    )


def monitor_runs(
    instance: DagsterInstance,
    storage: PipelineStorage | None,
    stall_after_s: float,
    now: float | None = None,
) -> list[tuple[StalledRun, str]]:
    """One pass of the monitor: find and fail. Returns what it did."""
    now = time.time() if now is None else now
    return [
        (stalled, fail_stalled_run(instance, storage, stalled))
        for stalled in find_stalled_runs(instance, now, stall_after_s)
    ]


@sensor(
    name="run_monitor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fails runs whose progress stalled (with step and segment context), and ends runs that only look alive (dead worker, killed launching command); Dagster's run monitoring also finds dead workers through the run launcher.",
)
def run_monitor(
    context: SensorEvaluationContext,
    storage: PipelineStorage,
    run_monitor_settings: RunMonitorSettings,
):
    for run_id in settle_dead_runs(context.instance, storage):
        context.log.warning("run %s only looked alive: ended", run_id)
    handled = monitor_runs(context.instance, storage, run_monitor_settings.stall_after_s)
    for stalled, stopped in handled:
        context.log.warning(
            "%s: %s (run %s; worker %s)",
            stalled.recording_id,
            stalled.message,
            stalled.run_id,
            stopped,
        )
    if not handled:
        return SkipReason(f"no stalled runs at {datetime.now(UTC):%H:%M:%S} UTC")
    return SkipReason("; ".join(f"{s.recording_id}: {s.message}" for s, _ in handled))
