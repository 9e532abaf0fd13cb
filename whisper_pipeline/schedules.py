"""Schedules that keep the archive healthy: retry failed recordings, refresh the summaries."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from dagster import (
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from whisper_pipeline.assets.summaries import SUMMARY_ASSETS
from whisper_pipeline.batch import PROCESS_BATCH, process_batch, requested_ids
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.partitions import PARTITION_TAG, RECORDINGS_PARTITION
from whisper_pipeline.sensors.inbox import IntakeSettings, batch_run_requests

RUN_LOOKBACK = 20_000  # most recent per-recording runs read to find the latest of each
IN_FLIGHT = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class RetryPlan:
    retry: list[str]  # recording ids to request again, oldest failure first
    exhausted: list[str]  # failed as often as allowed: left for a person
    in_flight: list[str]  # failed, but already queued or running again


def _queued_or_running(instance: DagsterInstance) -> set[str]:
    """Recording ids some batch or per-recording run is about to process or processing."""
    busy: set[str] = set()
    for run in instance.get_runs(RunsFilter(job_name=PROCESS_BATCH, statuses=IN_FLIGHT)):
        busy.update(requested_ids(run.run_config))
    for run in instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING, statuses=IN_FLIGHT)):
        if run.tags.get(PARTITION_TAG):
            busy.add(run.tags[PARTITION_TAG])
    return busy


def plan_retries(
    instance: DagsterInstance, max_retries: int, retry_after_s: float, now: float
) -> RetryPlan:
    """Recordings whose latest run failed at least `retry_after_s` ago, and whether they have
    retries left (a recording may fail `max_retries + 1` times in all). The wait leaves
    Dagster's own run retries (of runs launched from the UI) time to happen first."""
    latest: dict[str, DagsterRunStatus] = {}
    recent: set[str] = set()
    failures: Counter[str] = Counter()
    records = instance.get_run_records(
        RunsFilter(job_name=PROCESS_RECORDING), limit=RUN_LOOKBACK, ascending=False
    )
    for record in records:
        recording_id = record.dagster_run.tags.get(PARTITION_TAG)
        if not recording_id:
            continue
        if recording_id not in latest:
            latest[recording_id] = record.dagster_run.status
            ended = record.end_time or record.update_timestamp.timestamp()
            if now - ended < retry_after_s:
                recent.add(recording_id)
        if record.dagster_run.status == DagsterRunStatus.FAILURE:
            failures[recording_id] += 1
    failed = [
        rid
        for rid, status in latest.items()
        if status == DagsterRunStatus.FAILURE and rid not in recent
    ]
    failed.reverse()  # oldest latest-failure first
    partitions = set(instance.get_dynamic_partitions(RECORDINGS_PARTITION))
    busy = _queued_or_running(instance)
    retry, exhausted, in_flight = [], [], []
    for recording_id in failed:
        if recording_id not in partitions:
            continue  # the partition was deleted on purpose
        if recording_id in busy:
            in_flight.append(recording_id)
        elif failures[recording_id] > max_retries:
            exhausted.append(recording_id)
        else:
            retry.append(recording_id)
    return RetryPlan(retry, exhausted, in_flight)


@schedule(
    name="retry_failed_recordings",
    cron_schedule="*/30 * * * *",
    job=process_batch,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every 30 minutes: re-requests recordings whose last run failed (at least IntakeSettings.retry_after_s ago), while they have retries left (IntakeSettings.max_retries).",
)
def retry_failed_recordings(context: ScheduleEvaluationContext, intake: IntakeSettings):
    plan = plan_retries(context.instance, intake.max_retries, intake.retry_after_s, time.time())
    if plan.exhausted:
        context.log.warning(
            f"{len(plan.exhausted)} recording(s) out of retries: {', '.join(plan.exhausted[:20])}"
        )
    if not plan.retry:
        return SkipReason(
            f"nothing to retry ({len(plan.exhausted)} out of retries, "
            f"{len(plan.in_flight)} already queued or running)"
        )
    context.log.info(f"retrying {len(plan.retry)} recording(s): {', '.join(plan.retry[:20])}")
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return batch_run_requests(plan.retry, intake.batch_size, key_prefix=f"retry-{tick}")


refresh_summaries = define_asset_job(
    name="refresh_summaries",
    selection=AssetSelection.assets(*SUMMARY_ASSETS),
    description="Recompute the cross-recording summary tables (daily_totals).",
)


@schedule(
    name="refresh_summaries_hourly",
    cron_schedule="5 * * * *",
    job=refresh_summaries,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every hour at :05: refreshes daily_totals so today's numbers stay current.",
)
def refresh_summaries_hourly(context: ScheduleEvaluationContext):
    return RunRequest()
