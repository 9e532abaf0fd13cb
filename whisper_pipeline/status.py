"""Where each recording's runs are: state, step, progress, error. Read from the instance."""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from whisper_pipeline.assets.step import TAG_PROGRESS, TAG_STEP
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.runner import INTERRUPT_ERRORS, interrupted_message

PARTITION_TAG = "dagster/partition"


def run_error(instance: DagsterInstance, run_id: str) -> str | None:
    """The message of the run's first step failure, else of the run failure."""
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ).records
    messages = []
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        data = event.step_failure_data if event.is_step_failure else None
        if data and data.error and data.error.cls_name in INTERRUPT_ERRORS:
            return interrupted_message(instance, run_id)
        if event.is_step_failure and event.step_failure_data:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description
            if event.step_failure_data.error:
                return event.step_failure_data.error.message.strip()
        messages.append(record.event_log_entry.message or "")
    return next((m for m in messages if m), None)


def recent_runs(instance: DagsterInstance, limit: int = 20) -> list[dict]:
    rows = []
    for run in instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING), limit=limit):
        error = run_error(instance, run.run_id) if run.status == DagsterRunStatus.FAILURE else None
        rows.append(
            {
                "run_id": run.run_id,
                "recording_id": run.tags.get(PARTITION_TAG),
                "status": run.status.value,
                "step": run.tags.get(TAG_STEP),
                "progress": run.tags.get(TAG_PROGRESS),
                "error": error,
            }
        )
    return rows
