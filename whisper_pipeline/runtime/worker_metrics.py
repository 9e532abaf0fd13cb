"""A run worker's own metrics endpoint, and its heartbeat.

Why a port per worker with Prometheus' multiprocess mode inside it: a worker is one Celery main
process and its pool processes, where the runs execute and the models live. The pool processes
observe (core/metrics.py) into files under PROMETHEUS_MULTIPROC_DIR, and the main process serves
them all on the worker's port, beside what only it can see: the resident memory of each of its
processes. One scrape target per worker, as Prometheus discovers workers on many hosts.

The heartbeat (`<home>/metrics/workers/<worker>.json`, every 10 s) tells the exporter which
workers are alive for which queues, whatever the broker (the embedded one answers no
broadcast)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from whisper_pipeline.core.fileio import write_text_atomic
from whisper_pipeline.core.processes import descendants
from whisper_pipeline.storage import home

log = logging.getLogger(__name__)

PORT_ENV = "WHISPER_PIPELINE_WORKER_METRICS_PORT"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HEARTBEAT_S = 10.0


def metrics_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment of a worker that serves metrics on the port `env` names: a fresh folder
    for its processes' metric files, set before anything imports prometheus_client. Without a
    port, `env` unchanged."""
    port = int(env.get(PORT_ENV) or 0)
    if not port:
        return env
    folder = Path(tempfile.mkdtemp(prefix=f"whisper-worker-metrics-{port}-"))
    return {**env, PORT_ENV: str(port), MULTIPROC_ENV: str(folder)}


def heartbeat_dir(pipeline_home: Path) -> Path:
    return pipeline_home / "metrics" / "workers"


def resident_memory(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class WorkerProcesses:
    """A collector: the resident memory of the worker's main process and each pool process."""

    def __init__(self, worker: str) -> None:
        self.worker = worker

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "whisper_worker_resident_memory_bytes",
            "Resident memory of each process of the worker (main, and pool processes that"
            " execute runs and hold the models).",
            labels=["worker", "process", "pid"],
        )
        main = os.getpid()
        for pid in [main, *descendants(main)]:
            rss = resident_memory(pid)
            if rss is not None:
                role = "main" if pid == main else "pool"
                family.add_metric([self.worker, role, str(pid)], rss)
        yield family


def serve_worker_metrics(worker: str, queues: list[str]) -> None:
    """In the worker's main process: the endpoint (when a port is set) and the heartbeat."""
    pipeline_home = home.resolve_home()
    threading.Thread(
        target=_beat,
        args=(heartbeat_dir(pipeline_home), worker, queues),
        daemon=True,
        name="worker-heartbeat",
    ).start()
    port = int(os.environ.get(PORT_ENV) or 0)
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    registry.register(WorkerProcesses(worker))
    start_http_server(
        port, addr=os.environ.get("WHISPER_PIPELINE_METRICS_ADDR", "0.0.0.0"), registry=registry
    )
    log.info("worker metrics on port %s", port)


def _beat(folder: Path, worker: str, queues: list[str]) -> None:
    path = folder / f"{worker}.json"
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(
                path,
                json.dumps(
                    {
                        "worker": worker,
                        "queues": queues,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "at": time.time(),
                    }
                ),
            )
        except OSError:  # a full disk must not stop the worker
            log.exception("worker heartbeat not written")
        time.sleep(HEARTBEAT_S)


def pool_process_exited(pid: int) -> None:
    """A pool process leaves: its live gauges stop counting (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_metrics_dir() -> None:
    folder = os.environ.get(MULTIPROC_ENV)
    if folder and Path(folder).name.startswith("whisper-worker-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)
