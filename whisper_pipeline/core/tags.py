"""The run tags the pipeline writes and reads: one vocabulary for steps, monitor, CLI and UI.

Progress tags say where a run is (the UI shows them, `status` and the run monitor read them);
worker tags say which process runs it, so a dead worker is told apart from a slow one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterRun

# Machine tags: Dagster's hidden prefix keeps them out of the runs list and run pages (the
# monitor, status and the launcher read them); the GraphQL API and run storage still have them.
# What a person reads is TAG_PROGRESS ("transcribe: 45 segments, 40% ..."; "done" at the end).
HIDDEN = ".dagster/whisper/"
TAG_STEP = f"{HIDDEN}step"
TAG_STEP_STARTED = f"{HIDDEN}step_started_at"
TAG_UPDATED = f"{HIDDEN}progress_updated_at"
TAG_SEGMENTS = f"{HIDDEN}segments"
TAG_PERCENT = f"{HIDDEN}percent"
TAG_PROGRESS = "whisper/progress"
TAG_PID = f"{HIDDEN}pid"
TAG_PID_START = f"{HIDDEN}pid_start"
TAG_HOST = f"{HIDDEN}host"
TAG_WORKER = f"{HIDDEN}worker"  # the Celery worker's node name, e.g. gpu1@host
# the run whose steps wrote the progress and worker tags: Dagster copies a run's tags to its
# retries, and a retry must not look stuck or dead because of its parent's last progress
TAG_PROGRESS_RUN = f"{HIDDEN}progress_run"
RUN_SCOPED_TAGS = frozenset(
    {
        TAG_STEP,
        TAG_STEP_STARTED,
        TAG_UPDATED,
        TAG_SEGMENTS,
        TAG_PERCENT,
        TAG_PROGRESS,
        TAG_PID,
        TAG_PID_START,
        TAG_HOST,
        TAG_WORKER,
        TAG_PROGRESS_RUN,
    }
)

# the command that launched a run and executes it in a worker of its own (`whisper-pipeline run`
# on the embedded broker): when it is gone, nothing will start the run
TAG_LAUNCHED_BY_PID = f"{HIDDEN}launched_by_pid"
TAG_LAUNCHED_BY_PID_START = f"{HIDDEN}launched_by_pid_start"
TAG_LAUNCHED_BY_HOST = f"{HIDDEN}launched_by_host"

SOURCE_NAME_TAG = "whisper/source_name"
TAG_CANCEL_REASON = "whisper/cancel_reason"  # why whisper-pipeline canceled it (Ctrl+C, ...)
# the name each asset's step goes by in failures rows, tags and `status` (the asset's otherwise)
STEP_NAMES = {"transcript": "transcribe"}


def step_name(asset_name: str) -> str:
    return STEP_NAMES.get(asset_name, asset_name)


def asset_of_step(step: str) -> str:
    return next((asset for asset, name in STEP_NAMES.items() if name == step), step)


PARTITION_TAG = "dagster/partition"  # the run tag holding a run's recording id

# Dagster's own tags the pipeline sets
CELERY_QUEUE_TAG = "dagster-celery/queue"
CELERY_TASK_ID_TAG = "dagster-celery/task_id"
GPU_QUEUE = "gpu"  # Celery queue of runs that load models (process_recording)
CPU_QUEUE = "cpu"  # Celery queue of light runs (summaries)
# a step failure caused by the input (not decodable, empty, no audio) is not retried
RETRY_ON_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"


def own_tags(run: DagsterRun) -> Mapping[str, str]:
    """The run's tags, less the progress and worker tags it inherited from the run it
    re-executes (those name the parent's step, time and process, not its own)."""
    writer = run.tags.get(TAG_PROGRESS_RUN)
    if writer is None or writer == run.run_id:
        return run.tags
    return {key: value for key, value in run.tags.items() if key not in RUN_SCOPED_TAGS}


def time_tag(epoch_s: float) -> str:
    """A run tag's time as people read it in the runs list: 2026-11-25T01:50:12Z (UTC)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_time_tag(value: str | None) -> float | None:
    """Epoch seconds of a time tag (ISO 8601, or the epoch seconds older runs wrote)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
