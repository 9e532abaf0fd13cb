"""Schedules: refresh the cross-recording summaries. (Failed recordings are retried by Dagster's
run retries, configured in the instance: see docs/intake.md.)"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from whisper_pipeline.assets.summaries import SUMMARY_ASSETS
from whisper_pipeline.tags import CELERY_QUEUE_TAG, CPU_QUEUE

refresh_summaries = define_asset_job(
    name="refresh_summaries",
    selection=AssetSelection.assets(*SUMMARY_ASSETS),
    tags={CELERY_QUEUE_TAG: CPU_QUEUE},
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
