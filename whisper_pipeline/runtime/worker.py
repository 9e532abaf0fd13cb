"""The Celery app that workers run: `celery -A whisper_pipeline.runtime.worker worker -Q gpu,cpu`
(or `whisper-pipeline worker`). Each worker process executes whole runs one after another and
keeps the models they loaded, so only its first recording pays for loading them.

The app comes from the instance's run launcher (the same broker and result backend the daemon,
webserver and CLI send runs to), so a worker needs DAGSTER_HOME and the same instance config.
Built on first use: importing this module touches nothing."""

from __future__ import annotations

import functools
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from celery import Celery, signals

from whisper_pipeline.core.processes import set_worker_name

if TYPE_CHECKING:
    from dagster import DagsterInstance

log = logging.getLogger(__name__)

WORKER_QUEUES = "gpu,cpu"


_instances: dict[int, DagsterInstance] = {}


def worker_instance() -> DagsterInstance:
    """One Dagster instance per process, kept from run to run (opening a SQLite or PostgreSQL
    instance for every run costs a few tenths of a second). Per process id: a pool process
    never uses the database connections of the parent it was forked from."""
    from dagster import DagsterInstance

    pid = os.getpid()
    if pid not in _instances:
        _instances[pid] = DagsterInstance.get()
    return _instances[pid]


def execute_run(task: Any, execute_job_args_packed: dict) -> int:
    """The run task: execute the whole run here, in this long-lived process. It answers to the
    name and arguments dagster-celery's launcher sends."""
    from whisper_pipeline.adapters.dagster_internals import execute_launched_run, launched_run_id

    instance = worker_instance()
    set_worker_name(task.request.hostname or "")
    run_id = launched_run_id(execute_job_args_packed)
    _tag_run_with_worker(instance, run_id, task.request.id)
    try:
        return execute_launched_run(instance, execute_job_args_packed)
    finally:
        _tag_run_outcome(instance, run_id)


def _tag_run_outcome(instance: Any, run_id: str) -> None:
    """The runs list's progress chip says how a finished run ended ("done", "failed in
    transcribe"), not the last progress of its last step."""
    from whisper_pipeline.core.progress import outcome_progress
    from whisper_pipeline.core.tags import TAG_PROGRESS

    try:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            instance.add_run_tags(run_id, {TAG_PROGRESS: outcome_progress(run)})
    except Exception:  # the chip is cosmetic: never let it fail the task
        log.exception("could not tag run %s with its outcome", run_id)


def _tag_run_with_worker(instance: Any, run_id: str, task_id: str) -> None:
    """Which worker runs the run, so the UI shows it and a dead worker is found. The task id
    goes along: Dagster rewrites a run's whole tag set on each change, so a write racing the
    launcher's own (which adds the task id) must not drop it. Each step re-adds these tags
    with its first progress update."""
    from whisper_pipeline.core.tags import CELERY_TASK_ID_TAG
    from whisper_pipeline.defs.assets.step import worker_tags

    try:
        instance.add_run_tags(run_id, {**worker_tags(), CELERY_TASK_ID_TAG: task_id})
    except Exception:  # a missing tag must never stop the run
        log.exception("could not tag run %s with its worker", run_id)


@functools.cache
def build_app() -> Celery:
    """The launcher's Celery app with the run task registered."""
    from dagster_celery.config import TASK_EXECUTE_JOB_NAME

    from whisper_pipeline.runtime.launcher import PipelineRunLauncher

    instance = worker_instance()
    launcher = instance.run_launcher
    if not isinstance(launcher, PipelineRunLauncher):
        raise RuntimeError(
            f"the instance in {instance.root_directory} launches runs with "
            f"{type(launcher).__name__}, not whisper_pipeline.runtime.launcher.PipelineRunLauncher: "
            "workers would receive nothing (see docs/deploy.md)"
        )
    app = launcher.celery
    # A worker holds only the run it executes: the run's message is acknowledged when the run
    # ends, and with a prefetch of one the worker takes nothing else meanwhile. So an idle worker
    # gets the next run, and the worker stays free to answer pings and revoke (terminate)
    # requests (with a prefork pool on a polling broker, a second, reserved run would block
    # it). A message redelivered after its worker died is ignored by Dagster: the run has
    # finished (failed) by then.
    app.conf.task_acks_late = True
    app.conf.worker_prefetch_multiplier = 1
    app.conf.worker_redirect_stdouts = False  # Dagster's run logs stay as they are
    app.task(bind=True, name=TASK_EXECUTE_JOB_NAME, track_started=True, acks_late=True)(execute_run)
    return app


def __getattr__(name: str) -> Any:  # `celery -A whisper_pipeline.runtime.worker` asks for `app`
    if name in ("app", "celery"):
        return build_app()
    raise AttributeError(name)


@signals.worker_process_init.connect
def _keep_models_warm(**_kwargs: Any) -> None:
    """A run executing here keeps its models for the next one; SIGTERM (a run terminated from
    the UI: Celery revokes the task) interrupts the running step like Ctrl+C, so the step
    records where it stopped and the process lives on for the next run."""
    from whisper_pipeline.adapters.dagster_internals import interrupts_on_sigterm
    from whisper_pipeline.inference.model_cache import MODEL_CACHE

    MODEL_CACHE.keep_between_runs = True
    # pool children ignore SIGINT by default; Dagster maps SIGTERM onto the SIGINT handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts_on_sigterm()
    _import_the_pipeline()


def _import_the_pipeline() -> None:
    """Import the code location and the model libraries while the process starts (the run
    that comes first would otherwise wait for them): a few seconds, once per process."""
    try:
        import whisperx  # noqa: F401  (torch, faster-whisper, pyannote)

        import whisper_pipeline.definitions  # noqa: F401
    except Exception:  # the run reports a broken code location itself, with its context
        log.exception("importing the pipeline in the worker failed")


@signals.worker_process_shutdown.connect
def _release_models(**_kwargs: Any) -> None:
    """Worker children leave through os._exit, which skips atexit: release models here."""
    from whisper_pipeline.inference.model_cache import MODEL_CACHE
    from whisper_pipeline.runtime.worker_metrics import pool_process_exited

    MODEL_CACHE.shutdown()
    pool_process_exited(os.getpid())


@signals.celeryd_after_setup.connect
def _serve_metrics(sender: str, instance: Any, **_kwargs: Any) -> None:
    """The worker's heartbeat, and its metrics endpoint when it was given a port
    (runtime/worker_metrics.py); neither may stop the worker."""
    from whisper_pipeline.runtime.worker_metrics import serve_worker_metrics

    try:
        queues = sorted(instance.app.amqp.queues.consume_from)
        serve_worker_metrics(str(sender), queues)
    except Exception:
        log.exception("worker metrics not served")


@signals.worker_shutdown.connect
def _remove_metric_files(**_kwargs: Any) -> None:
    from whisper_pipeline.runtime.worker_metrics import remove_metrics_dir

    remove_metrics_dir()
