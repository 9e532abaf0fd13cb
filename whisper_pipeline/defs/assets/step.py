"""What every per-recording step shares: progress, failures that carry context, failure rows."""

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    DagsterError,
    DagsterExecutionInterruptedError,
    DagsterInstance,
    DagsterRun,
    DagsterType,
    Failure,
    HookContext,
    MaterializeResult,
    MetadataValue,
    PythonObjectDagsterType,
    success_hook,
)

from whisper_pipeline.adapters.dagster_internals import interrupts_deferred, terminate_noted
from whisper_pipeline.core.errors import PipelineError, StepFailure, interrupted_message
from whisper_pipeline.core.metrics import observe_step
from whisper_pipeline.core.processes import this_process_tags, worker_name
from whisper_pipeline.core.progress import ProgressReporter, ProgressSnapshot
from whisper_pipeline.core.records import RecordingFacts
from whisper_pipeline.core.tags import (
    PARTITION_TAG,
    RETRY_ON_FAILURE_TAG,
    SOURCE_NAME_TAG,
    TAG_HOST,
    TAG_PERCENT,
    TAG_PID,
    TAG_PID_START,
    TAG_PROGRESS,
    TAG_PROGRESS_RUN,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_STEP_STARTED,
    TAG_UPDATED,
    TAG_WORKER,
    asset_of_step,
    time_tag,
)
from whisper_pipeline.defs.assets.checks import checks_view
from whisper_pipeline.defs.partitions import recordings_partitions
from whisper_pipeline.defs.resources.hand_off import HAND_OFF
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.inference.cpu_share import governor
from whisper_pipeline.inference.model_cache import MODEL_CACHE, describe_key, free_memory_logged
from whisper_pipeline.storage.registry import RegisteredRecording

progress_log = logging.getLogger("whisper_pipeline.progress")


@dataclass
class StepState:
    """What a step has reached, for progress and for the failure message if it stops."""

    step: str
    recording_id: str
    progress: ProgressReporter
    model: str = ""  # what the step ran, for its duration and RTF metrics (core/metrics.py)
    device: str = ""

    @property
    def segments(self) -> int | None:
        return (self.progress.segments or 0) if self.step == "transcribe" else None


def progress_tags(snapshot: ProgressSnapshot) -> dict[str, str]:
    tags = {
        TAG_STEP: snapshot.step,
        TAG_STEP_STARTED: time_tag(snapshot.started_at),
        TAG_UPDATED: time_tag(snapshot.updated_at),
        TAG_PROGRESS: snapshot.describe(),
    }
    if snapshot.segments is not None:
        tags[TAG_SEGMENTS] = str(snapshot.segments)
    if snapshot.fraction is not None:
        tags[TAG_PERCENT] = f"{snapshot.fraction * 100:.0f}"
    return tags


# Who answers for the pipeline's assets (the UI's Owner column and filter); change it to your team.
ASSET_OWNERS = ["team:transcripts"]
# What every per-recording asset is: a partition per recording, in the `recordings` group,
# its result handed to the steps downstream as JSON in the home folder.
PER_RECORDING: dict[str, Any] = {
    "partitions_def": recordings_partitions,
    "group_name": "recordings",
    "owners": ASSET_OWNERS,
    "io_manager_key": HAND_OFF,
}


@success_hook(name="stop_between_steps")
def stop_between_steps(_context: HookContext) -> None:
    """A run terminated as a step ends stops there: no further step starts (Dagster would note
    the signal and raise it only inside the next step, after recording that step's start).
    After a failed step, Dagster itself raises the noted signal as it runs this hook."""
    if terminate_noted():
        raise DagsterExecutionInterruptedError("terminated as the step ended")


def worker_tags() -> dict[str, str]:
    """Which process runs the steps, so the run monitor can tell when it is gone."""
    tags = this_process_tags(TAG_PID, TAG_PID_START, TAG_HOST)
    if worker_name():
        tags[TAG_WORKER] = worker_name()
    return tags


def file_name_tag(run_tags: Mapping[str, str], storage: PipelineStorage, recording_id: str):
    """The run's file-name tag when it has none yet (a run launched from the UI's Launchpad or
    Materialize button): the Runs list shows which recording it is."""
    if SOURCE_NAME_TAG in run_tags:
        return {}
    try:
        return {SOURCE_NAME_TAG: storage.shown_name(recording_id)[:200]}
    except Exception:  # a tag is cosmetic: the registry being unreadable is reported elsewhere
        return {}


def in_a_run(context: AssetExecutionContext) -> bool:
    """False when the asset is called directly with in-memory inputs (a test): no run to tag."""
    try:
        return context.run is not None
    except DagsterError:  # a directly invoked context has no run
        return False


def handed_on(kind: type) -> DagsterType:
    """The type of what an asset hands on, checked as it is returned and named in the UI."""
    return PythonObjectDagsterType(kind, name=HANDED_ON_NAMES.get(kind, kind.__name__))


HANDED_ON_NAMES = {list: "Segments"}  # speaker_transcript hands on its list of segments


def run_id_of(context: AssetExecutionContext) -> str:
    """The run's id (Dagster's placeholder when the asset is called directly)."""
    return context.op_execution_context.run_id


def _sinks(context: AssetExecutionContext, storage: PipelineStorage):
    def to_dagster_log(snapshot: ProgressSnapshot) -> None:
        if snapshot.updated_at - snapshot.started_at < 1.0 and not snapshot.segments:
            return  # the step just started: Dagster's STEP_START event says so already
        context.log.info(snapshot.describe())

    def to_python_log(snapshot: ProgressSnapshot) -> None:
        level = logging.INFO if snapshot.duration_s else logging.DEBUG  # long steps only
        progress_log.log(level, "%s %s", snapshot.recording_id, snapshot.describe())

    if not in_a_run(context):
        return [to_dagster_log, to_python_log]
    # go with the step's first progress tags: one write
    unsent_worker_tags = [
        {**worker_tags(), **file_name_tag(context.run.tags, storage, context.partition_key)}
    ]

    def to_run_tags(snapshot: ProgressSnapshot) -> None:
        tags = unsent_worker_tags.pop() if unsent_worker_tags else {}
        tags = {**tags, **progress_tags(snapshot), TAG_PROGRESS_RUN: run_id_of(context)}
        context.instance.add_run_tags(run_id_of(context), tags)

    return [to_dagster_log, to_run_tags, to_python_log]


def record_failure(
    storage: PipelineStorage,
    recording_id: str,
    step: str,
    message: str,
    error_type: str,
    run_id: str,
    segments: int | None = None,
) -> None:
    """A `failures` row for the warehouse; the recording's source name when it is known."""
    storage.warehouse.add_failure(
        {
            "recording_id": recording_id,
            "source_name": storage.source_name(recording_id),
            "step": step,
            "error": message,
            "error_type": error_type,
            "segments": segments,
            "run_id": run_id,
            "failed_at": datetime.now(UTC),
        }
    )


def _record_safely(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    state: StepState,
    message: str,
    error: BaseException,
) -> None:
    """A failures row; if even that fails, it is logged and the original error goes on."""
    try:
        record_failure(
            storage,
            state.recording_id,
            state.step,
            message,
            type(error).__name__,
            run_id_of(context),
            state.segments,
        )
    except Exception:
        context.log.exception("could not record the failure of %s in the warehouse", state.step)


def _kept_from_being_made(context: AssetExecutionContext) -> list[AssetKey]:
    """The assets of this run downstream of the failing one: none of them will be made."""
    graph = context.job_def.asset_layer.asset_graph
    selected = context.run.asset_selection
    found: list[AssetKey] = []
    frontier = [context.asset_key]
    while frontier:
        for child in sorted(graph.get(frontier.pop(0)).child_keys):
            if child not in found and (selected is None or child in selected):
                found.append(child)
                frontier.append(child)
    return found


def _failure_observation(
    key: AssetKey,
    recording_id: str,
    step: str,
    message: str,
    error_type: str,
    run_id: str,
    source: str,
    made: bool = True,
) -> AssetObservation:
    """The partition page's account of a failure: of the step that failed (`made`), or of an
    asset downstream that it kept from being made."""
    status, why = ("failed", message) if made else ("not made", f"not made: {message}")
    return AssetObservation(
        asset_key=key,
        partition=recording_id,
        description=f"failed: {message}" if made else f"not made: step {step} failed",
        metadata={
            "status": status,
            "why": f"{why} (file {source})",
            "file": source,
            "failed_step": step,
            "error_type": error_type,
            "run": MetadataValue.dagster_run(run_id),
        },
    )


def _show_on_partition(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    state: StepState,
    message: str,
    error: BaseException,
) -> None:
    """Why the recording failed, on the partition page of the asset that failed and of every
    asset it kept from being made (Dagster's own failed-materialization events are not stored
    by the open-source event log): an observation whose `why` names the step, the cause and
    the file, and links the run."""
    try:
        source = storage.shown_name(state.recording_id)
    except Exception:  # the registry itself is unreadable: the id still says which recording
        source = state.recording_id
    where = (state.recording_id, state.step, message, type(error).__name__, run_id_of(context))
    try:  # showing the failure must never hide it: the step's own error goes on regardless
        events = [_failure_observation(context.asset_key, *where, source)]
        events += [
            _failure_observation(key, *where, source, made=False)
            for key in _kept_from_being_made(context)
        ]
        for event in events:
            context.log_event(event)
    except Exception:
        context.log.exception("could not show the failure of %s on its partition", state.step)


def show_failure_from_outside(
    instance: DagsterInstance,
    storage: PipelineStorage,
    run: DagsterRun,
    step: str,
    message: str,
    error_type: str,
) -> None:
    """As _show_on_partition, for a step interrupted (its own logged events are dropped) or a
    run ended from outside its step (canceled as the step began or ended, its worker gone):
    the observation on the step's asset's partition page, reported straight to the instance."""
    recording_id = run.tags.get(PARTITION_TAG)
    if not recording_id:
        return
    instance.report_runless_asset_event(
        _failure_observation(
            AssetKey(asset_of_step(step)),
            recording_id,
            step,
            message,
            error_type,
            run.run_id,
            storage.shown_name(recording_id),
        )
    )


def _do_not_retry(context: AssetExecutionContext, error: PipelineError) -> None:
    """The input itself is at fault (not decodable, empty, no audio stream, a bad setting):
    running again gives the same failure, so Dagster's run retries leave this run alone."""
    try:
        context.instance.add_run_tags(run_id_of(context), {RETRY_ON_FAILURE_TAG: "false"})
        context.log.info(f"not retried: {type(error).__name__} does not go away by itself")
    except Exception:
        context.log.exception("could not mark the run as not to be retried")


class RecordingFailed(Failure):
    """A recording's step failed; the description says which, why and for which file."""

    def __reduce__(self):  # pickled as the Failure it is (its module is renamed below)
        return (Failure, (self.description, self.metadata))


# Python prints an exception as `module.Class: message` unless its module is builtins: the
# run page then reads "RecordingFailed: Step recording_metadata failed: ...", not
# "dagster._core.definitions.events.Failure: ..." (the step's log has the cause's trace).
RecordingFailed.__module__ = "builtins"


@contextmanager
def recording_step(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    step: str,
    duration_s: float | None = None,
) -> Iterator[StepState]:
    """Run a step's body with a progress reporter; any exception becomes a Dagster Failure whose
    message names the step (and segments reached) and the problem, and a `failures` row.
    Steps through the audio (`duration_s` given: the model steps) free memory when they end."""
    started = time.monotonic()
    reporter = ProgressReporter(step, context.partition_key, duration_s, _sinks(context, storage))
    state = StepState(step=step, recording_id=context.partition_key, progress=reporter)
    try:
        # run tags: this step, and which process runs it; transcription counts segments from
        # 0, so a failure at any moment says how far it got ("0 segments" before the first
        # window ends). Inside the try: an interrupt that lands here is this step's too.
        reporter.update(segments=0 if state.segments is not None else None, force=True)
        if duration_s is not None:  # a model step: its threads follow the free cores from here
            governor().start()
        yield state
    except Failure:
        raise
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as interrupt:
        # terminated from the UI, SIGTERM or Ctrl+C: say where it stopped, then let it unwind
        message = interrupted_message(step, state.segments)
        with interrupts_deferred():  # the terminate signal may come twice (direct and revoke)
            _record_safely(context, storage, state, message, interrupt)
            try:  # events the step logs are dropped with an interrupted step: straight through
                if in_a_run(context):
                    show_failure_from_outside(
                        context.instance, storage, context.run, step, message, "Interrupted"
                    )
            except Exception:
                context.log.exception("could not show the interruption on the partition")
            free_memory_logged(f"{step} interrupted", full=True)
        raise
    except Exception as error:
        failure = StepFailure(step, error, state.segments)
        _record_safely(context, storage, state, str(failure), error)
        if in_a_run(context):
            _show_on_partition(context, storage, state, str(failure), error)
            if isinstance(error, PipelineError):
                _do_not_retry(context, error)
        free_memory_logged(f"{step} failed", full=True)
        loaded = ", ".join(describe_key(key) for key in MODEL_CACHE.loaded_keys()) or "none"
        context.log.info(f"{step} failed; accelerator memory freed; models still loaded: {loaded}")
        # the cause's stack trace goes to the run's log; the failure itself reads as its message
        context.log.debug(f"{step}: where the error came from", exc_info=error)
        raise RecordingFailed(
            description=str(failure),
            metadata={
                "recording_id": state.recording_id,
                "step": step,
                "error_type": type(error).__name__,
                "segments": MetadataValue.int(state.segments or 0),
            },
        ) from None
    if duration_s is not None:  # the model steps (they report progress through the audio)
        reporter.update(position_s=duration_s, force=True)
        free_memory_logged(f"after {step}")  # hand back what the models no longer need
    observe_step(step, time.monotonic() - started, duration_s, state.model, state.device)


def source_file(storage: PipelineStorage, facts: RecordingFacts) -> Path:
    """The recording's file, refusing one moved, deleted or changed since step 1 looked."""
    entry = RegisteredRecording(
        recording_id=facts.recording_id,
        source_path=facts.source_path,
        content_sha256=facts.content_sha256,
        size_bytes=facts.size_bytes,
        mtime_ns=facts.mtime_ns,
        registered_at="",
    )
    return storage.registry.check_unchanged(entry)


def hand_on(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    value: Any,
    metadata: dict,
    checks: Sequence[AssetCheckResult] = (),
) -> MaterializeResult:
    """Materialize with `metadata` (after the recording's file name) and the results of the
    asset's checks; `value` goes on to the steps downstream (defs/resources/hand_off.py)."""
    # the file name first on every partition page: people know their recordings by it
    shown = {"file": storage.shown_name(context.partition_key), **metadata}
    if checks:
        shown["checks"] = checks_view(checks)
    return MaterializeResult(value=value, metadata=shown, check_results=list(checks))
