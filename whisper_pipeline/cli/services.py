"""The long-running processes: `whisper-pipeline ui` (webserver and daemon), `worker` (a run
worker that keeps models loaded) and `with-instance` (the containers' entry point)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from whisper_pipeline.cli.common import (
    Options,
    open_instance,
    open_storage,
    pass_options,
    report_settled,
)


@click.command("ui")
@click.option("--host", default="127.0.0.1", help="Bind address (default loopback only).")
@click.option("--port", type=int, default=3000, show_default=True)
@pass_options
def ui_command(options: Options, host: str, port: int) -> int:
    """Open the Dagster UI on this pipeline's instance.

    Starts the webserver and daemon (`dagster dev`) on the instance the CLI uses, with a run
    worker beside them when the instance uses the embedded broker. Ctrl+C or SIGTERM stops all
    of them."""
    from whisper_pipeline.runtime.instance import write_workspace
    from whisper_pipeline.runtime.local_worker import local_worker
    from whisper_pipeline.runtime.run_health import settle_dead_runs

    pipeline_home = options.pipeline_home
    instance = open_instance(pipeline_home)
    # dagster dev runs in the instance's own folder (a dagster.yaml in the working folder, such
    # as the repository's template, would make it warn), on a workspace that names the code
    # location as the CLI's runs do, from whatever folder this was started
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    workspace = write_workspace(dagster_home)
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    report_settled(instance, settle_dead_runs(instance, open_storage(pipeline_home)))
    with local_worker(instance, pipeline_home / "logs") as worker:
        if worker:
            click.echo(f"run worker started (log: {worker.log_path})")
        click.echo("starting: " + " ".join(command))
        return run_until_stopped(command, cwd=dagster_home)


UI_STOP_GRACE_S = 60.0


def run_until_stopped(command: list[str], cwd: Path) -> int:
    """Run `command` in a session of its own until it exits or this process is told to stop
    (SIGINT, SIGTERM): then it is asked to stop (SIGTERM: dagster dev shuts its webserver,
    daemon and code servers down), and after UI_STOP_GRACE_S its whole group is killed."""
    import signal
    import subprocess

    from whisper_pipeline.runtime.local_worker import die_with_parent

    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    # its own session: the terminal's Ctrl+C reaches this process, which stops it in order; and
    # it is told to stop when this process dies, even by SIGKILL
    process = subprocess.Popen(command, cwd=cwd, start_new_session=True, preexec_fn=die_with_parent)
    try:
        while process.poll() is None and not stop_requested:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
        if process.poll() is None:
            click.echo("stopping the UI (webserver, daemon, code servers)", err=True)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=UI_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _kill_leftovers(process.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop_requested:
        return 128 + stop_requested[0]
    return process.returncode


def _kill_leftovers(group: int) -> None:
    """Whatever dagster dev started and left behind (a code server that missed its shutdown)."""
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


@click.command("worker")
@click.option(
    "--queues", default="gpu,cpu", show_default=True, help="Celery queues to take runs from."
)
@click.option(
    "--concurrency", type=int, default=1, show_default=True, help="Runs at a time (one per GPU)."
)
@click.option("--name", help="Worker node name (default whisper@<host>).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=1, max=65535),
    default=None,
    help="Serve the worker's Prometheus metrics on this port (docs/monitoring.md).",
)
@pass_options
def worker_command(
    options: Options,
    queues: str,
    concurrency: int,
    name: str | None,
    loglevel: str,
    metrics_port: int | None,
) -> int:
    """Start a run worker (Celery) that keeps models loaded across runs."""
    from whisper_pipeline.runtime.instance import prepare_dagster_home
    from whisper_pipeline.runtime.local_worker import worker_command as celery_command
    from whisper_pipeline.runtime.local_worker import worker_environment
    from whisper_pipeline.runtime.worker_metrics import PORT_ENV

    dagster_home = prepare_dagster_home(options.pipeline_home)
    command = celery_command(queues, concurrency, name, loglevel)
    click.echo(f"DAGSTER_HOME={dagster_home}\nstarting: {' '.join(command)}", err=True)
    base = {**os.environ, PORT_ENV: str(metrics_port)} if metrics_port else None
    os.execve(command[0], command, worker_environment(concurrency, base))
    return 0


@click.command(
    "with-instance",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_options
def with_instance_command(options: Options, command: tuple[str, ...]) -> int:
    """Prepare DAGSTER_HOME, then run COMMAND in it.

    The containers' entry point (see WHISPER_PIPELINE_INSTANCE), e.g.
    `whisper-pipeline with-instance dagster-daemon run`."""
    from whisper_pipeline.runtime.instance import prepare_dagster_home

    parts = [part for part in command if part != "--"]
    if not parts:
        click.echo("with-instance: give a command to run", err=True)
        return 2
    dagster_home = prepare_dagster_home(options.pipeline_home)
    click.echo(f"DAGSTER_HOME={dagster_home}", err=True)
    beside_python = Path(sys.executable).with_name(parts[0])  # this environment's dagster
    if beside_python.exists():
        parts[0] = str(beside_python)
    os.execvp(parts[0], parts)
    return 0
