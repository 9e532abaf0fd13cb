"""Where each recording's runs are: state, step, progress, error. Read from the instance."""

from __future__ import annotations

import time

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from whisper_pipeline.core.display import label
from whisper_pipeline.core.errors import interrupted_message
from whisper_pipeline.core.progress import format_duration
from whisper_pipeline.core.recording_id import slugify
from whisper_pipeline.core.tags import (
    PARTITION_TAG,
    SOURCE_NAME_TAG,
    TAG_CANCEL_REASON,
    TAG_PERCENT,
    TAG_PROGRESS,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_STEP_STARTED,
    TAG_UPDATED,
    own_tags,
    read_time_tag,
)
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.runtime.run_health import interrupted_step, segments_in
from whisper_pipeline.storage.registry import RecordingRegistry

INTERRUPT_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}

ACTIVE = (
    DagsterRunStatus.STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.CANCELING,
)


def run_error(instance: DagsterInstance, run_id: str) -> str | None:
    """The message of the run's first step failure, else of the run failure; for a canceled
    run, where it was interrupted."""
    run = instance.get_run_by_id(run_id)
    tags = own_tags(run) if run else {}
    interrupted = interrupted_message(tags.get(TAG_STEP), tags.get(TAG_SEGMENTS))
    if run is not None and run.status == DagsterRunStatus.CANCELED:
        step = interrupted_step(instance, run_id)
        if step is None:  # before its first step or between two: why it was canceled says more
            return _cancel_reason(instance, run) or interrupted_message(None)
        return interrupted_message(step, segments_in(run, step))
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
            return interrupted
        if data:
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error:
                return data.error.message.strip()
        messages.append(record.event_log_entry.message or "")
    return next((m for m in reversed(messages) if m), None)


def _cancel_reason(instance: DagsterInstance, run: DagsterRun) -> str | None:
    """Why the run was canceled: the reason `whisper-pipeline` gave (a started run ends with
    Dagster's own "Execution of run … canceled."), else the cancellation's message."""
    if run.tags.get(TAG_CANCEL_REASON):
        return run.tags[TAG_CANCEL_REASON]
    records = instance.get_records_for_run(
        run.run_id, of_type={DagsterEventType.RUN_CANCELED}, limit=1
    ).records
    return records[0].event_log_entry.message if records else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def matching_recordings(registry: RecordingRegistry, name: str) -> list[str]:
    """The recording ids whose file name or id holds `name` (case, spaces, dashes and accents
    aside: "hot interview" finds "Hot Interview.m4a" and hot-interview-3fa2b1c4)."""
    wanted = slugify(name)
    found = []
    for recording_id in registry.ids():
        source = registry.get(recording_id).source_name
        if wanted in slugify(source) or wanted in recording_id or name in source:
            found.append(recording_id)
    return found


def recent_runs(
    instance: DagsterInstance,
    limit: int = 20,
    now: float | None = None,
    recording_ids: list[str] | None = None,
) -> list[dict]:
    """Newest first: state, step, percent, segments, elapsed and ETA of each run (of the given
    recordings only, when given)."""
    now = time.time() if now is None else now
    rows = []
    if recording_ids is None:
        runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING), limit=limit)
    else:
        runs = [
            run
            for recording_id in recording_ids
            for run in instance.get_runs(
                RunsFilter(job_name=PROCESS_RECORDING, tags={PARTITION_TAG: recording_id}),
                limit=limit,
            )
        ]
        if len(recording_ids) > 1:  # one recording's runs come newest first already
            runs = sorted(runs, key=lambda run: run.run_id)  # stable before the time sort
            created = {r.dagster_run.run_id: r.create_timestamp for r in _records(instance, runs)}
            runs = sorted(runs, key=lambda run: created.get(run.run_id, 0), reverse=True)
        runs = runs[:limit]
    for run in runs:
        tags = own_tags(run)
        started = read_time_tag(tags.get(TAG_STEP_STARTED))
        updated = read_time_tag(tags.get(TAG_UPDATED))
        percent = _float(tags.get(TAG_PERCENT))
        active = run.status in ACTIVE
        elapsed = (now if active else (updated or now)) - started if started else None
        eta = None
        if active and elapsed and percent and 0 < percent < 100 and updated and started:
            eta = (updated - started) * (100 - percent) / percent - (now - updated)
        rows.append(
            {
                "run_id": run.run_id,
                "recording_id": tags.get(PARTITION_TAG),
                "source_name": tags.get(SOURCE_NAME_TAG),
                "status": run.status.value,
                "step": interrupted_step(instance, run.run_id)
                if run.status == DagsterRunStatus.CANCELED
                else tags.get(TAG_STEP),
                "percent": percent,
                "segments": int(tags[TAG_SEGMENTS])
                if tags.get(TAG_SEGMENTS, "").isdigit()
                else None,
                "step_elapsed_s": round(elapsed, 1) if elapsed is not None else None,
                "eta_s": round(max(eta, 0.0), 1) if eta is not None else None,
                "last_update_s_ago": round(now - updated, 1) if active and updated else None,
                "progress": tags.get(TAG_PROGRESS),
                "error": run_error(instance, run.run_id)
                if run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
                else None,
            }
        )
    return rows


def _records(instance: DagsterInstance, runs: list[DagsterRun]):
    if not runs:
        return []
    return instance.get_run_records(RunsFilter(run_ids=[run.run_id for run in runs]))


def format_table(rows: list[dict]) -> str:
    lines = [
        f"{'recording':<36} {'state':<9} {'step':<19} {'done':>5} {'segs':>5} {'elapsed':>8} {'ETA':>7}  error"
    ]
    for row in rows:
        percent = f"{row['percent']:.0f}%" if row["percent"] is not None else "-"
        segments = str(row["segments"]) if row["segments"] is not None else "-"
        lines.append(
            f"{(row['recording_id'] or '-')[:36]:<36} {row['status'][:9]:<9} {(row['step'] or '-')[:19]:<19}"
            f" {percent:>5} {segments:>5} {format_duration(row['step_elapsed_s']) if row['step_elapsed_s'] is not None else '-':>8}"
            f" {format_duration(row['eta_s']) if row['eta_s'] is not None else '-':>7}  {label(row['error'] or '')}"
        )
    return "\n".join(lines)
