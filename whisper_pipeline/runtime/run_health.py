"""Runs that look alive but are not: found and ended with where they stopped, so `status`, the
UI and the in-flight claim (runner.runs_in_flight) never show a dead run as running.

Two ways a run is left behind: its worker died (killed, out of memory) while it ran, and Celery
still says STARTED; or the `whisper-pipeline run` that launched it on the embedded broker was
killed before its own worker took the run, and nothing will ever start it. Dagster's run
monitoring on a daemon handles the first through the run launcher; commands without a daemon
(`run`, `status`, `ui`) and the run monitor sensor call `settle_dead_runs`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from whisper_pipeline.core.errors import interrupted_message
from whisper_pipeline.core.processes import hostname, is_running, this_process_tags
from whisper_pipeline.core.tags import (
    CELERY_TASK_ID_TAG,
    PARTITION_TAG,
    TAG_LAUNCHED_BY_HOST,
    TAG_LAUNCHED_BY_PID,
    TAG_LAUNCHED_BY_PID_START,
    TAG_SEGMENTS,
    TAG_STEP,
    own_tags,
    step_name,
)
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.runtime.instance import runs_by_id

log = logging.getLogger(__name__)

NOT_YET_STARTED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING]
WORKER_DIED_STEP = "run_worker"


def launched_by_this_process() -> dict[str, str]:
    """Tags naming this command as the one whose own worker will execute the run."""
    return this_process_tags(TAG_LAUNCHED_BY_PID, TAG_LAUNCHED_BY_PID_START, TAG_LAUNCHED_BY_HOST)


def launching_command_gone(run: DagsterRun) -> str | None:
    """Why the command that launched `run` (and would execute it) is known to be gone, else
    None (still there, launched elsewhere, or by the UI, a sensor or a deployed worker)."""
    tags = run.tags
    pid = tags.get(TAG_LAUNCHED_BY_PID)
    if not pid or tags.get(TAG_LAUNCHED_BY_HOST) != hostname():
        return None
    if is_running(int(pid), tags.get(TAG_LAUNCHED_BY_PID_START)):
        return None
    return f"the `whisper-pipeline run` that launched it (pid {pid}) ended before starting it"


def interrupted_step(instance: DagsterInstance, run_id: str) -> str | None:
    """The step a canceled or dead run was in: the last one Dagster started and did not see
    succeed (None when it stopped before its first step or between two). The run's step tag
    alone would name the step before for a moment as each step begins, and keeps naming a step
    that has succeeded."""
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    ).records
    started, succeeded = [], set()
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started.append(event.step_key)
        else:
            succeeded.add(event.step_key)
    running = [key for key in started if key not in succeeded]
    return step_name(running[-1]) if running else None


def segments_in(run: DagsterRun, step: str | None) -> str | None:
    """The segments the run's tags count for `step` (another step's count says nothing)."""
    tags = own_tags(run)
    return tags.get(TAG_SEGMENTS) if step and tags.get(TAG_STEP) == step else None


def succeeded_since(instance: DagsterInstance, run: DagsterRun) -> bool:
    """A later run of the same recording succeeded: a failure of `run` is old news then."""
    recording_id = run.tags.get(PARTITION_TAG)
    record = instance.get_run_record_by_id(run.run_id)
    if not recording_id or record is None:
        return False
    later = instance.get_runs(
        RunsFilter(
            job_name=PROCESS_RECORDING,
            tags={PARTITION_TAG: recording_id},
            statuses=[DagsterRunStatus.SUCCESS],
            created_after=record.create_timestamp,
        ),
        limit=1,
    )
    return bool(later)


def record_run_failure(
    instance: DagsterInstance,
    storage,
    run: DagsterRun,
    message: str,
    error_type: str,
    step_if_unknown: str = WORKER_DIED_STEP,
    step: str | None = None,
) -> bool:
    """A `failures` row for a run ended from outside (its own steps could not write one), with
    the step it was in (`step`, else its step tag), also shown on the recording's page of that
    step's asset; none when a later run of the recording has succeeded since."""
    from whisper_pipeline.defs.assets.step import record_failure, show_failure_from_outside

    recording_id = run.tags.get(PARTITION_TAG)
    if storage is None or not recording_id or succeeded_since(instance, run):
        return False
    segments = own_tags(run).get(TAG_SEGMENTS, "")
    try:
        record_failure(
            storage,
            recording_id,
            step or own_tags(run).get(TAG_STEP) or step_if_unknown,
            message,
            error_type,
            run.run_id,
            int(segments) if segments.isdigit() else None,
        )
        if step is not None:
            show_failure_from_outside(instance, storage, run, step, message, error_type)
    except Exception:
        log.exception("could not record the failure of run %s", run.run_id)
        return False
    return True


def _runs(
    instance: DagsterInstance, run_ids: Iterable[str] | None, status: DagsterRunStatus
) -> Sequence[DagsterRun]:
    """The given runs, or every per-recording run, in `status`."""
    filters = RunsFilter(
        run_ids=list(run_ids) if run_ids is not None else None,
        job_name=None if run_ids is not None else PROCESS_RECORDING,
        statuses=[status],
    )
    return instance.get_runs(filters)


def fail_runs_with_dead_workers(
    instance: DagsterInstance, run_ids: Iterable[str] | None = None, storage=None
) -> list[str]:
    """What Dagster's run monitoring does on a daemon, for commands without one: a started run
    whose worker the launcher reports dead is failed with the launcher's message (which names
    the step) and gets a failures row. Returns the ids it failed."""
    from whisper_pipeline.adapters.dagster_internals import WorkerStatus

    launcher = instance.run_launcher
    if not launcher.supports_check_run_worker_health:
        return []
    failed = []
    for run in _runs(instance, run_ids, DagsterRunStatus.STARTED):
        health = launcher.check_run_worker_health(run)
        if health.status != WorkerStatus.FAILED:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != DagsterRunStatus.STARTED:
            continue  # it finished while we looked
        instance.report_run_failed(current, health.msg)
        record_run_failure(instance, storage, current, health.msg or "", "WorkerDied")
        failed.append(run.run_id)
    return failed


def finish_canceling_runs_with_dead_workers(
    instance: DagsterInstance, run_ids: Iterable[str] | None = None, storage=None
) -> list[str]:
    """A run being canceled whose worker process died before the run could stop itself (the
    terminate signal landed where the step could not turn it into an interruption) would stay
    CANCELING for good: it is canceled here, with the step it was in and a failures row."""
    worker_gone = getattr(instance.run_launcher, "worker_gone", None)
    if worker_gone is None:
        return []
    finished = []
    for run in _runs(instance, run_ids, DagsterRunStatus.CANCELING):
        why = worker_gone(run) or _task_ended(instance, run)
        current = instance.get_run_by_id(run.run_id) if why else None
        if current is None or current.status != DagsterRunStatus.CANCELING:
            continue
        step = interrupted_step(instance, run.run_id)
        message = interrupted_message(step, segments_in(run, step))
        instance.report_run_canceled(current, message=f"{message}; {why}")
        if step is not None:
            record_run_failure(instance, storage, current, message, "Interrupted", step=step)
        finished.append(run.run_id)
    return finished


def record_interrupted_steps(instance: DagsterInstance, run_ids: Iterable[str], storage) -> None:
    """A canceled run interrupted between its step's own code and Dagster's end of that step
    has no failures row (the step's code had returned): one is added, naming the step."""
    if storage is None:
        return
    for run in runs_by_id(instance, run_ids, statuses=[DagsterRunStatus.CANCELED]):
        step, recording_id = interrupted_step(instance, run.run_id), run.tags.get(PARTITION_TAG)
        if (
            step
            and recording_id
            and not storage.warehouse.has_failure(recording_id, step, run.run_id)
        ):
            message = interrupted_message(step, segments_in(run, step))
            record_run_failure(instance, storage, run, message, "Interrupted", step=step)


def _task_ended(instance: DagsterInstance, run: DagsterRun) -> str | None:
    """The run's Celery task has returned or raised (a terminate signal that landed before the
    run's own interrupt handling began): nothing will finish the run any more. Celery records
    that only after the task function is done, so a run still canceling itself is never cut
    short."""
    from whisper_pipeline.adapters.dagster_internals import WorkerStatus

    launcher = instance.run_launcher
    if CELERY_TASK_ID_TAG not in run.tags or not launcher.supports_check_run_worker_health:
        return None
    status = launcher.check_run_worker_health(run).status
    if status in (WorkerStatus.FAILED, WorkerStatus.SUCCESS):
        return "its worker task ended before the run finished"
    return None


def cancel_runs_nobody_will_start(instance: DagsterInstance) -> list[str]:
    """Runs waiting for the worker of a `whisper-pipeline run` that was killed: canceled with
    why (their queued Celery task is revoked; a worker that still receives it finds the run
    canceled and does nothing). Returns the ids it canceled."""
    canceled = []
    for run in instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING, statuses=NOT_YET_STARTED)):
        why = launching_command_gone(run)
        if why is None:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status not in NOT_YET_STARTED:
            continue  # a worker took it meanwhile: it is alive
        instance.report_run_canceled(current, message=f"Not started: {why}")
        _revoke(instance, current)
        canceled.append(run.run_id)
    return canceled


def _revoke(instance: DagsterInstance, run: DagsterRun) -> None:
    task_id = run.tags.get(CELERY_TASK_ID_TAG)
    celery = getattr(instance.run_launcher, "celery", None)
    if task_id and celery is not None:
        try:
            celery.control.revoke(task_id)
        except Exception:  # the worker's check of the run's status is enough
            log.debug("could not revoke task %s", task_id, exc_info=True)


def settle_dead_runs(instance: DagsterInstance, storage=None) -> list[str]:
    """End every per-recording run that only looks alive. Returns the ids it ended."""
    return (
        fail_runs_with_dead_workers(instance, storage=storage)
        + finish_canceling_runs_with_dead_workers(instance, storage=storage)
        + cancel_runs_nobody_will_start(instance)
    )
