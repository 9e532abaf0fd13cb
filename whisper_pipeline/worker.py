"""The Celery app that workers run: `celery -A whisper_pipeline.worker worker -Q gpu,cpu`
(or `whisper-pipeline worker`). Each worker process executes whole runs one after another and
keeps the models they loaded, so only its first recording pays for loading them.

The app comes from the instance's run launcher (the same broker and result backend the daemon,
webserver and CLI send runs to), so a worker needs DAGSTER_HOME and the same instance config.
Built on first use: importing this module touches nothing."""

from __future__ import annotations

import functools
import logging
import signal
from typing import Any

from celery import Celery, signals

log = logging.getLogger(__name__)

WORKER_QUEUES = "gpu,cpu"


@functools.cache
def build_app() -> Celery:
    """The launcher's Celery app with the run task registered."""
    from dagster import DagsterInstance
    from dagster_celery.tasks import create_execute_job_task

    from whisper_pipeline.launcher import PipelineRunLauncher

    instance = DagsterInstance.get()
    launcher = instance.run_launcher
    if not isinstance(launcher, PipelineRunLauncher):
        raise RuntimeError(
            f"the instance in {instance.root_directory} launches runs with "
            f"{type(launcher).__name__}, not whisper_pipeline.launcher.PipelineRunLauncher: "
            "workers would receive nothing (see docs/deploy.md)"
        )
    app = launcher.celery
    create_execute_job_task(app)
    app.conf.worker_redirect_stdouts = False  # Dagster's run logs stay as they are
    return app


def __getattr__(name: str) -> Any:  # `celery -A whisper_pipeline.worker` asks for `app`
    if name in ("app", "celery"):
        return build_app()
    raise AttributeError(name)


@signals.worker_process_init.connect
def _keep_models_warm(**_kwargs: Any) -> None:
    """A run executing here keeps its models for the next one; SIGTERM (a run terminated from
    the UI: Celery revokes the task) interrupts the running step like Ctrl+C, so the step
    records where it stopped and the process lives on for the next run."""
    from dagster._utils.interrupts import setup_interrupt_handlers

    from whisper_pipeline.lib.model_cache import MODEL_CACHE

    MODEL_CACHE.keep_between_runs = True
    # pool children ignore SIGINT by default; Dagster maps SIGTERM onto the SIGINT handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    setup_interrupt_handlers()


@signals.worker_process_shutdown.connect
def _release_models(**_kwargs: Any) -> None:
    """Worker children leave through os._exit, which skips atexit: release models here."""
    from whisper_pipeline.lib.model_cache import MODEL_CACHE

    MODEL_CACHE.shutdown()


@signals.task_prerun.connect
def _tag_run_with_worker(task: Any = None, kwargs: dict | None = None, **_rest: Any) -> None:
    """Which worker runs the run, so the UI shows it and a dead worker is found."""
    packed = (kwargs or {}).get("execute_job_args_packed")
    if packed is None:
        return
    try:
        from dagster import DagsterInstance
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import unpack_value

        from whisper_pipeline.assets.step import worker_tags
        from whisper_pipeline.tags import TAG_WORKER

        args = unpack_value(packed, as_type=ExecuteRunArgs)
        with DagsterInstance.get() as instance:
            instance.add_run_tags(
                args.run_id, {**worker_tags(), TAG_WORKER: task.request.hostname or ""}
            )
    except Exception:  # a missing tag must never stop the run
        log.exception("could not tag the run with its worker")
