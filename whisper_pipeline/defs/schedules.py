"""Schedules: refresh the cross-recording summaries. (Failed recordings are retried by Dagster's
run retries, configured in the instance: see docs/intake.md.)"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from whisper_pipeline.core.tags import CELERY_QUEUE_TAG, CPU_QUEUE
from whisper_pipeline.defs.assets.summaries import SUMMARY_ASSETS

refresh_summaries = define_asset_job(
    name="refresh_summaries",
    selection=AssetSelection.assets(*SUMMARY_ASSETS),
    tags={CELERY_QUEUE_TAG: CPU_QUEUE},
    description="Recompute the cross-recording summaries (daily_totals, recording_index).",
)


SUMMARIES_SCHEDULE = "refresh_summaries_hourly"
SUMMARIES_CRON = "5 * * * *"


def build_summaries_schedule(cron: str = SUMMARIES_CRON) -> ScheduleDefinition:
    """Refreshes daily_totals so today's numbers stay current (hourly at :05 by default; the
    intake settings' `summaries_cron` changes when)."""

    @schedule(
        name=SUMMARIES_SCHEDULE,
        cron_schedule=cron,
        job=refresh_summaries,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Refreshes daily_totals and recording_index ({cron}, UTC) so they stay current.",
    )
    def refresh_summaries_schedule(context: ScheduleEvaluationContext):
        return RunRequest()

    return refresh_summaries_schedule
