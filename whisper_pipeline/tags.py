"""The run tags the pipeline writes and reads: one vocabulary for steps, monitor, CLI and UI.

Progress tags say where a run is (the UI shows them, `status` and the run monitor read them);
worker tags say which process runs it, so a dead worker is told apart from a slow one."""

from datetime import UTC, datetime

TAG_STEP = "whisper/step"
TAG_STEP_STARTED = "whisper/step_started_at"
TAG_UPDATED = "whisper/progress_updated_at"
TAG_SEGMENTS = "whisper/segments"
TAG_PERCENT = "whisper/percent"
TAG_PROGRESS = "whisper/progress"

TAG_PID = "whisper/pid"
TAG_PID_START = "whisper/pid_start"
TAG_HOST = "whisper/host"
TAG_WORKER = "whisper/worker"  # the Celery worker's node name, e.g. gpu1@host

# the command that launched a run and executes it in a worker of its own (`whisper-pipeline run`
# on the embedded broker): when it is gone, nothing will start the run
TAG_LAUNCHED_BY_PID = "whisper/launched_by_pid"
TAG_LAUNCHED_BY_PID_START = "whisper/launched_by_pid_start"
TAG_LAUNCHED_BY_HOST = "whisper/launched_by_host"

SOURCE_NAME_TAG = "whisper/source_name"
PARTITION_TAG = "dagster/partition"  # the run tag holding a run's recording id

# Dagster's own tags the pipeline sets
CELERY_QUEUE_TAG = "dagster-celery/queue"
CELERY_TASK_ID_TAG = "dagster-celery/task_id"
GPU_QUEUE = "gpu"  # Celery queue of runs that load models (process_recording)
CPU_QUEUE = "cpu"  # Celery queue of light runs (summaries)
# a step failure caused by the input (not decodable, empty, no audio) is not retried
RETRY_ON_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"


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
