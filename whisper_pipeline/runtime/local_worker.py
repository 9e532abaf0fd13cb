"""Starting run workers: the `whisper-pipeline worker` command line, and the worker the CLI and
`whisper-pipeline ui` start themselves when the instance uses the embedded broker (a laptop:
no broker server, no worker to deploy)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance

from whisper_pipeline.inference.cpu_share import threads_per_process
from whisper_pipeline.inference.devices import cuda_devices
from whisper_pipeline.runtime.worker import WORKER_QUEUES
from whisper_pipeline.runtime.worker_metrics import metrics_environment

STOP_GRACE_S = 30.0


def worker_command(
    queues: str = WORKER_QUEUES,
    concurrency: int = 1,
    name: str | None = None,
    loglevel: str = "INFO",
) -> list[str]:
    """`celery -A whisper_pipeline.runtime.worker worker` with this environment's Python. One process
    (`concurrency` 1) per GPU; its child is reused from run to run (never recycled), which is
    what keeps the models loaded."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "whisper_pipeline.runtime.worker",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--hostname",
        name or f"whisper@{socket.gethostname()}",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        loglevel,
    ]


def worker_environment(concurrency: int, env: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: with several pool processes, each gets its share of the cores
    for inference threads (OMP_NUM_THREADS, which torch and the ASR resource follow), unless
    the user set it. Each taking every core oversubscribes them, which slows all of them."""
    env = dict(os.environ if env is None else env)
    if concurrency > 1 and not env.get("OMP_NUM_THREADS"):
        env["OMP_NUM_THREADS"] = str(threads_per_process(concurrency))
    return metrics_environment(env)  # a metrics port in the environment: served


CPU_RUNS_AT_A_TIME = 2


def default_concurrency(runs: int, asr_device: str = "auto") -> int:
    """Runs at a time when the command is not told. On a GPU host one: a second process would
    hold a second copy of the models in GPU memory. On the CPU two (each with half the cores'
    threads): one run's Dagster events, warehouse writes and exports then overlap the other's
    inference, where one process leaves the cores idle meanwhile. Never more than `runs`."""
    on_gpu = asr_device.startswith("cuda") or (asr_device == "auto" and cuda_devices() > 0)
    return max(1, min(runs, 1 if on_gpu else CPU_RUNS_AT_A_TIME))


def uses_embedded_broker(instance: DagsterInstance) -> bool:
    from whisper_pipeline.runtime.launcher import PipelineRunLauncher

    launcher = instance.run_launcher
    return isinstance(launcher, PipelineRunLauncher) and launcher.embedded


def die_with_parent() -> None:
    """In a child (before exec): SIGTERM it when the process that started it dies, so a killed
    CLI leaves no worker or UI behind (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class WorkerProcess:
    """A worker started by this process; `check` raises when it died."""

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.idle = False  # every run it was given has finished: no need to wait for its exit

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise WorkerDied(
                f"the run worker exited unexpectedly (exit code {code}); its log: {self.log_path}"
            )

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Warm shutdown (the running task finishes), then SIGKILL after `grace_s`. An idle
        worker is only told to stop: releasing its models and closing takes it a few seconds
        that nobody needs to wait for."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        if self.idle:
            return
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class WorkerDied(RuntimeError):
    """The worker this process started is gone."""


def start_worker_process(log_dir: Path, concurrency: int, role: str) -> WorkerProcess:
    """A run worker for this process's runs (`<role>-<pid>@<host>`), logging to `log_dir`; it
    dies with this process."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{os.getpid()}.log"
    name = f"{role}-{os.getpid()}@{socket.gethostname()}"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            worker_command(concurrency=concurrency, name=name, loglevel="INFO"),
            env=worker_environment(concurrency),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C reaches the CLI, which decides what to stop
            preexec_fn=die_with_parent,
        )
    return WorkerProcess(process, log_path)


@contextmanager
def local_worker(
    instance: DagsterInstance, log_dir: Path, concurrency: int = 1
) -> Iterator[WorkerProcess | None]:
    """A worker for this command's runs when the instance uses the embedded broker (None
    otherwise: deployed workers take the runs), running `concurrency` runs at a time. It is
    stopped when the block ends."""
    if not uses_embedded_broker(instance):
        yield None
        return
    worker = start_worker_process(log_dir, concurrency, "cli")
    try:
        yield worker
    finally:
        worker.stop()
