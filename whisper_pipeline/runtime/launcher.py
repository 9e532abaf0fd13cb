"""The run launcher: every run is a Celery task executed inside a long-lived worker process,
so loaded models stay warm from one run to the next (dagster-celery's CeleryRunLauncher).

What it adds to dagster-celery's launcher:
- an embedded broker when none is configured: Celery's filesystem transport and result backend
  under $DAGSTER_HOME/celery, so a laptop needs no broker server;
- worker health with step context: a run whose worker died says in which step, after how many
  segments and how long ago ("Run worker died in step transcribe (45 segments) ..."), also when
  the whole worker process was killed (Celery then still says STARTED);
- termination that finds the run's task also when a concurrent status write dropped the
  task-id tag from the run (dagster-celery's own raises KeyError and leaves the run executing);
- no resume (dagster-celery's resume task cannot take the arguments its launcher sends): a run
  whose worker died is failed, and Dagster's run retries launch it again."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

from dagster import DagsterRun

from whisper_pipeline.adapters.dagster_internals import (
    CeleryRunLauncher,
    CheckRunHealthResult,
    ConfigurableClassData,
    WorkerStatus,
)
from whisper_pipeline.core.processes import hostname, is_running
from whisper_pipeline.core.progress import worker_died_message
from whisper_pipeline.core.tags import (
    CELERY_TASK_ID_TAG,
    GPU_QUEUE,
    TAG_HOST,
    TAG_PID,
    TAG_PID_START,
    TAG_WORKER,
    own_tags,
)

# dagster-celery registers its run task again on every launch; the warning says nothing useful
warnings.filterwarnings("ignore", message="Task name 'execute_job' is already registered")

EMBEDDED = "embedded"
POLL_INTERVAL_S = 0.1  # the filesystem broker's polling: a run waits at most this long
PING_TIMEOUT_S = 2.0


def embedded_broker_dir(dagster_home: str | None = None) -> Path:
    """Where the embedded broker keeps its messages and results: $DAGSTER_HOME/celery."""
    root = dagster_home or os.environ.get("DAGSTER_HOME")
    if not root:
        raise RuntimeError("the embedded Celery broker lives under DAGSTER_HOME: set it")
    return Path(root) / "celery"


def embedded_celery_settings(folder: Path) -> tuple[str, str, dict]:
    """Broker URL, result backend URL and transport options of the embedded broker."""
    messages, control = folder / "messages", folder / "control"
    results = folder / "results"
    for path in (messages, control, results):
        path.mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(messages),
        "data_folder_out": str(messages),
        "control_folder": str(control),
        "store_processed": False,
        "polling_interval": POLL_INTERVAL_S,
    }
    return "filesystem://localhost//", f"file://{results}", {"broker_transport_options": options}


class PipelineRunLauncher(CeleryRunLauncher):
    """CeleryRunLauncher with an embedded default broker and step-aware worker health."""

    def __init__(
        self,
        default_queue: str = GPU_QUEUE,
        broker: str | None = None,
        backend: str | None = None,
        include: list[str] | None = None,
        config_source: dict | None = None,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        self.embedded = broker in (None, EMBEDDED)
        if self.embedded:
            broker, backend, embedded_config = embedded_celery_settings(embedded_broker_dir())
            config_source = {**embedded_config, **(config_source or {})}
        super().__init__(
            default_queue=default_queue,
            broker=broker,
            backend=backend,
            include=include,
            config_source=config_source,
            inst_data=inst_data,
        )

    @property
    def supports_resume_run(self) -> bool:
        return False

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if CELERY_TASK_ID_TAG not in run.tags:
            # just launched (the launcher tags the run once the broker took the task), or the
            # tag lost to a concurrent tag write: judge by the worker alone. (UNKNOWN would
            # make Dagster's run monitoring fail a healthy run.)
            gone = self.worker_gone(run)
            if gone:
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, worker_died_message(own_tags(run), gone)
                )
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        result = super().check_run_worker_health(run)
        if result.status == WorkerStatus.FAILED:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                worker_died_message(own_tags(run), f"Celery task failed: {self._task_error(run)}"),
            )
        if result.status == WorkerStatus.RUNNING:
            gone = self.worker_gone(run)
            if gone:
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, worker_died_message(own_tags(run), gone)
                )
        return result

    def terminate(self, run_id: str) -> bool:
        """Interrupt a run where it is (SIGTERM to the process executing its task: the step
        records where it stopped). That process is signaled directly when it runs on this host
        (a revoke travels through the broker, and in that time the next step would start);
        the revoke goes too, for a worker elsewhere and for a task not taken yet. False when no
        worker is executing it."""
        run = self._instance.get_run_by_id(run_id)
        signaled = run is not None and self._signal_local_process(run, signal.SIGTERM)
        return self._revoke(run_id, "SIGTERM") or signaled

    def _signal_local_process(self, run: DagsterRun, signum: int) -> bool:
        tags = own_tags(run)
        pid = tags.get(TAG_PID)
        if not pid or tags.get(TAG_HOST) != hostname():
            return False
        if not is_running(int(pid), tags.get(TAG_PID_START)):
            return False
        try:
            os.kill(int(pid), signum)
        except OSError:
            return False
        return True

    def kill(self, run_id: str) -> bool:
        """Stop a run's worker process at once (SIGKILL): a stalled process may never get to
        handle SIGTERM, and must not report its own context-free failure later. The worker
        replaces the process (its models load again there)."""
        return self._revoke(run_id, "SIGKILL")

    def _revoke(self, run_id: str, signal_name: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        task_id = self.task_id_of(run) if run is not None else None
        if task_id is None:
            return False
        self.celery.control.revoke(task_id, terminate=True, signal=signal_name)
        return True

    def task_id_of(self, run: DagsterRun) -> str | None:
        """The Celery task executing `run`: its tag, else the workers' list of active tasks.
        Dagster rewrites a run's stored tags on every status change, so a write racing another
        can drop the tag; the worker still knows which task carries the run's id."""
        if CELERY_TASK_ID_TAG in run.tags:
            return run.tags[CELERY_TASK_ID_TAG]
        node = own_tags(run).get(TAG_WORKER)
        inspector = self.celery.control.inspect(
            destination=[node] if node else None, timeout=PING_TIMEOUT_S
        )
        for tasks in (inspector.active() or {}).values():
            for task in tasks:
                if run.run_id in f"{task.get('args')}{task.get('kwargs')}":
                    return task["id"]
        return None

    def worker_gone(self, run: DagsterRun) -> str | None:
        """Why the worker holding a STARTED run is known to be gone, else None. Celery keeps a
        task STARTED when the whole worker was killed; the worker's pid (same host) or a ping
        to its node name (another host) tells."""
        tags = own_tags(run)
        pid = tags.get(TAG_PID)
        if pid and tags.get(TAG_HOST) == hostname():
            if not is_running(int(pid), tags.get(TAG_PID_START)):
                return f"worker process {pid} on {tags[TAG_HOST]} is gone"
            return None
        node = tags.get(TAG_WORKER)
        if node:
            replies = self.celery.control.ping(destination=[node], timeout=PING_TIMEOUT_S)
            if not replies:
                return f"worker {node} does not answer"
        return None

    def _task_error(self, run: DagsterRun) -> str:
        try:
            outcome = self.celery.AsyncResult(run.tags[CELERY_TASK_ID_TAG]).result
        except Exception as error:  # the backend itself is unreachable
            return f"state unreadable: {error}"
        return f"{type(outcome).__name__}: {outcome}" if outcome else "no detail"
