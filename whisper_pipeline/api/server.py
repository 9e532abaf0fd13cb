"""`whisper-pipeline api`: the API served by uvicorn. On an instance with the embedded broker
(a laptop, a single host) it starts a run worker of its own and keeps one alive: a worker that
dies is replaced and its runs are failed with their step, as the run monitor would."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from whisper_pipeline.api.app import create_app
from whisper_pipeline.api.service import Api, voices_dir

log = logging.getLogger(__name__)

WATCH_S = 2.0
STALE_VOICES_S = 24 * 3600.0  # a request's voice samples outlive its run by at most this


class WorkerKeeper:
    """Runs whose worker died are failed with their step (what ends a synchronous request's
    wait); on the embedded broker, the run worker this API process started, restarted when it
    dies."""

    def __init__(self, api: Api, concurrency: int) -> None:
        from whisper_pipeline.runtime.local_worker import start_worker_process, uses_embedded_broker

        self.api = api
        self.concurrency = concurrency
        self.worker = None
        self.stopping = threading.Event()
        self.restarts = 0
        if uses_embedded_broker(api.instance):
            self.worker = start_worker_process(self._log_dir(), concurrency, "api")
        threading.Thread(target=self._watch, name="worker-keeper", daemon=True).start()

    def _log_dir(self) -> Path:
        return self.api.pipeline_home / "logs"

    def problem(self) -> str | None:
        """Why runs would not be executed now (None when they would)."""
        if self.worker is None:
            return None  # deployed workers take the runs: the broker check covers them
        code = self.worker.process.poll()
        return None if code is None else f"the run worker exited (code {code}); restarting it"

    def _watch(self) -> None:
        from whisper_pipeline.runtime.local_worker import start_worker_process
        from whisper_pipeline.runtime.run_health import fail_runs_with_dead_workers

        while not self.stopping.wait(WATCH_S):
            try:
                fail_runs_with_dead_workers(self.api.instance, storage=self.api.storage)
                if self.worker is not None and self.worker.process.poll() is not None:
                    log.warning(
                        "the run worker exited (code %s): starting another",
                        self.worker.process.returncode,
                    )
                    self.restarts += 1
                    self.worker = start_worker_process(self._log_dir(), self.concurrency, "api")
            except Exception:  # the keeper must outlive any one failure
                log.exception("keeping the run worker alive failed; trying again")

    def stop(self) -> None:
        self.stopping.set()
        if self.worker is not None:
            self.worker.idle = True
            self.worker.stop()


def remove_stale_voices(api: Api) -> None:
    """Voice samples of requests whose runs ended long ago (a request that timed out leaves
    them for its run)."""
    folder = voices_dir(api)
    if not folder.is_dir():
        return
    for request_folder in folder.iterdir():
        if time.time() - request_folder.stat().st_mtime > STALE_VOICES_S:
            shutil.rmtree(request_folder, ignore_errors=True)


def serve(api: Api, host: str, port: int, workers: int) -> None:
    import uvicorn

    remove_stale_voices(api)
    keeper = WorkerKeeper(api, workers)
    try:
        app = create_app(api, keeper.problem)
        uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
    finally:
        keeper.stop()
