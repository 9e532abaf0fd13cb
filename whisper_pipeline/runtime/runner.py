"""Registering recordings and launching `process_recording` runs through the code location.

Runs made here are the same as the UI's: created from the code location (so the UI can
re-execute them and run retries apply), submitted to the instance's run coordinator and
executed by its run launcher (a Celery worker: see runtime/launcher.py and runtime/worker.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from whisper_pipeline import CODE_LOCATION
from whisper_pipeline.adapters.dagster_internals import (
    PlannedJob,
    WorkspaceRequestContext,
    code_location_workspace,
    create_planned_run,
    plan_job,
)
from whisper_pipeline.core.fileio import exclusive_lock
from whisper_pipeline.core.tags import PARTITION_TAG, TAG_CANCEL_REASON, own_tags
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.partitions import (
    PARTITION_CHUNK,
    RECORDINGS_PARTITION,
    recording_run_tags,
)
from whisper_pipeline.runtime.instance import runs_by_id
from whisper_pipeline.storage.registry import RecordingRegistry, RegisteredRecording
from whisper_pipeline.storage.warehouse import Warehouse

DEFINITIONS_MODULE = "whisper_pipeline.definitions"
STATUSES = ("succeeded", "failed", "skipped")
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    recording_id: str
    source_path: str
    run_id: str | None
    status: str  # succeeded | failed | skipped
    error: str | None = None
    steps: tuple[str, ...] = ()


@dataclass
class LaunchedRun:
    entry: RegisteredRecording
    run_id: str
    steps: tuple[str, ...] = field(default_factory=tuple)


def add_partitions(instance: DagsterInstance, recording_ids: Sequence[str]) -> None:
    known = set(instance.get_dynamic_partitions(RECORDINGS_PARTITION))
    new = [key for key in dict.fromkeys(recording_ids) if key not in known]
    for start in range(0, len(new), PARTITION_CHUNK):
        instance.add_dynamic_partitions(RECORDINGS_PARTITION, new[start : start + PARTITION_CHUNK])


def register(
    instance: DagsterInstance,
    registry: RecordingRegistry,
    paths: Iterable[Path],
    warehouse: Warehouse | None = None,
) -> list[RegisteredRecording]:
    """Register each file and add its recording id as a partition (once). A file registered
    earlier while it was still being copied is superseded: its rows leave `warehouse`."""
    known = registry.ids()
    entries: list[RegisteredRecording] = []
    for path in paths:
        entry = registry.register(path, known_ids=known)
        if entry.recording_id not in known:
            known.append(entry.recording_id)
        for old in entry.supersedes:
            log.warning(
                "%s: the earlier version %s was only part of this file: taken out of the views",
                entry.source_name,
                old,
            )
            if warehouse is not None:
                warehouse.retire(old)
        entries.append(entry)
    add_partitions(instance, [e.recording_id for e in entries])
    return entries


def steps_to_run(job, instance: DagsterInstance, recording_id: str, force: bool) -> list[AssetKey]:
    """The job's assets not yet materialized for this recording, and everything downstream of
    them: a re-run repeats only the failed step and what depends on it."""
    graph = job.asset_layer.asset_graph
    keys = list(graph.toposorted_asset_keys)
    if force:
        return keys
    missing = {key for key in keys if recording_id not in instance.get_materialized_partitions(key)}
    selected = set(missing)
    for key in keys:  # topological order: parents are decided first
        if any(parent in selected for parent in graph.get(key).parent_keys):
            selected.add(key)
    return [key for key in keys if key in selected]


def launch_recording_run(
    instance: DagsterInstance,
    workspace: WorkspaceRequestContext,
    entry: RegisteredRecording,
    planned: PlannedJob,
    assets: Sequence[AssetKey] | None,
    run_config: dict,
    tags: dict[str, str],
) -> DagsterRun:
    """Create one `process_recording` run for `entry` (only `assets` when given) and submit it
    to the instance's run coordinator."""
    run = create_planned_run(
        instance, planned, assets, run_config, {**tags, **recording_run_tags(entry)}
    )
    return instance.submit_run(run.run_id, workspace)


def launch_recordings(
    instance: DagsterInstance,
    entries: Sequence[RegisteredRecording],
    force: bool = False,
    run_config: dict | None = None,
    launched: list[LaunchedRun] | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[list[LaunchedRun], list[RunOutcome]]:
    """One run per recording with work left (with `tags` besides its own); the others are
    reported as skipped. Each run is appended to `launched` as soon as it exists (so an
    interrupted caller can cancel it)."""
    from whisper_pipeline.definitions import defs

    job = defs.resolve_job_def(PROCESS_RECORDING)
    launched = [] if launched is None else launched
    skipped: list[RunOutcome] = []
    run_config = run_config or {}
    planned: dict[tuple[AssetKey, ...] | None, PlannedJob] = {}
    # the claim (runs in flight) and the new runs are one step for concurrent commands
    with (
        exclusive_lock(launch_lock_path(instance)),
        code_location_workspace(instance, DEFINITIONS_MODULE, CODE_LOCATION) as workspace,
    ):
        busy = runs_in_flight(instance, [entry.recording_id for entry in entries])
        for entry in entries:
            if entry.recording_id in busy:  # listed twice, or another command is on it
                skipped.append(
                    RunOutcome(
                        entry.recording_id,
                        entry.source_path,
                        busy[entry.recording_id],
                        "skipped",
                        f"already being processed by run {busy[entry.recording_id]}",
                    )
                )
                continue
            selection = steps_to_run(job, instance, entry.recording_id, force)
            if not selection:
                skipped.append(RunOutcome(entry.recording_id, entry.source_path, None, "skipped"))
                continue
            every_step = len(selection) == len(job.asset_layer.asset_graph.toposorted_asset_keys)
            assets = None if every_step else tuple(selection)
            if assets not in planned:
                planned[assets] = plan_job(
                    instance, workspace, CODE_LOCATION, PROCESS_RECORDING, assets, run_config
                )
            run = launch_recording_run(
                instance, workspace, entry, planned[assets], assets, run_config, tags or {}
            )
            steps = tuple(key.to_user_string() for key in selection)
            launched.append(LaunchedRun(entry, run.run_id, steps))
            busy[entry.recording_id] = run.run_id
    return launched, skipped


def launch_lock_path(instance: DagsterInstance) -> Path:
    """Commands launching runs on this instance take turns through this file, so two of them
    never both find a recording unclaimed (the instance's runs are the claim)."""
    return Path(instance.root_directory) / "launch.lock"


IN_FLIGHT = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def runs_in_flight(instance: DagsterInstance, recording_ids: Sequence[str]) -> dict[str, str]:
    """{recording id: run id} of the recordings a run is queued for or processing: the
    instance's runs are the claim, so two commands never transcribe one recording twice."""
    wanted = set(recording_ids)
    runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING, statuses=IN_FLIGHT))
    return {
        run.tags[PARTITION_TAG]: run.run_id for run in runs if run.tags.get(PARTITION_TAG) in wanted
    }


def outcome_of(instance: DagsterInstance, launched: LaunchedRun, run: DagsterRun) -> RunOutcome:
    from whisper_pipeline.runtime.status import run_error

    entry = launched.entry
    if run.status == DagsterRunStatus.SUCCESS:
        return RunOutcome(
            entry.recording_id, entry.source_path, run.run_id, "succeeded", steps=launched.steps
        )
    return RunOutcome(
        entry.recording_id,
        entry.source_path,
        run.run_id,
        "failed",
        run_error(instance, run.run_id) or run.status.value.lower(),
        launched.steps,
    )


def wait_for_runs(
    instance: DagsterInstance,
    launched: Sequence[LaunchedRun],
    on_outcome: Callable[[RunOutcome], None] = lambda _outcome: None,
    poll_s: float = 0.25,
    check: Callable[[], None] = lambda: None,
) -> list[RunOutcome]:
    """Wait until every run has finished, reporting each as it does (in launch order).
    `check` is called on each poll and may raise to stop waiting (a dead local worker)."""
    pending = {item.run_id: item for item in launched}
    outcomes: dict[str, RunOutcome] = {}
    while pending:
        check()
        runs = instance.get_runs(RunsFilter(run_ids=list(pending)))
        for run in runs:
            if run.status in FINISHED:
                outcome = outcome_of(instance, pending.pop(run.run_id), run)
                outcomes[run.run_id] = outcome
                on_outcome(outcome)
        if pending:
            time.sleep(poll_s)
    return [outcomes[item.run_id] for item in launched]


def cancel_runs(instance: DagsterInstance, run_ids: Iterable[str], reason: str) -> list[str]:
    """Cancel the runs that have not finished: queued ones never start, started ones are
    terminated (their step records where it stopped). Returns the ids it canceled."""
    canceled = []
    for run in runs_by_id(instance, run_ids):
        if run.status in FINISHED:
            continue
        instance.add_run_tags(run.run_id, {TAG_CANCEL_REASON: reason})
        if run.status == DagsterRunStatus.STARTED:
            instance.report_run_canceling(run, message=reason)
            try:
                reached = instance.run_launcher.terminate(run.run_id)
                why = "no worker is executing it"
            except Exception as error:
                reached, why = False, f"{type(error).__name__}: {error}"
            if not reached:  # the worker is gone: the run is canceled all the same
                instance.report_engine_event(f"could not terminate the run's worker: {why}", run)
                instance.report_run_canceled(run, message=reason)
        else:
            instance.report_run_canceled(run, message=reason)
        canceled.append(run.run_id)
    return canceled


def abandon_runs(instance: DagsterInstance, run_ids: Iterable[str], why: str) -> None:
    """The worker executing these runs is gone: a started run is failed with where it was
    (Dagster's run retries may launch it again), the others are canceled."""
    from whisper_pipeline.core.progress import worker_died_message

    for run in runs_by_id(instance, run_ids):
        if run.status in FINISHED:
            continue
        if run.status in (DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING):
            instance.report_run_failed(run, worker_died_message(own_tags(run), why))
        else:
            instance.report_run_canceled(run, message=why)
