"""`kill -9` of `whisper-pipeline run` (and of its worker): no run is left looking alive in
`status` or the UI, the runs nobody will start are canceled with why, a run whose worker died
is failed with its step, and the next `run` does the work."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from whisper_pipeline.core.tags import TAG_PID, TAG_STEP
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline_tests.conftest import cli_env, no_diarization_file, status_rows, wait_for

ALIVE = {"NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING"}


def failures(home) -> list[tuple]:
    with PipelineStorage(home_dir=str(home)).warehouse.query_connection() as con:
        return con.execute("SELECT source_name, step, error_type FROM failures").fetchall()


def run_command(home, inbox) -> subprocess.Popen:
    """`run` one recording at a time: the second waits behind the first, never started (no
    diarization: the long one is caught as its transcription starts)."""
    config = no_diarization_file(home.parent)
    return subprocess.Popen(
        [sys.executable, "-m", "whisper_pipeline.cli", "run", "--workers", "1"]
        + ["--config", str(config), str(inbox)],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("worker_too", [False, True], ids=["command", "command+worker"])
def test_kill_9_leaves_no_run_looking_alive(worker_too, tmp_path, sample_call):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    subprocess.run(["sox", *[str(sample_call)] * 6, str(inbox / "long call.wav")], check=True)
    shutil.copyfile(sample_call, inbox / "zz next.wav")
    home = tmp_path / "home"
    command = run_command(home, inbox)
    for line in command.stderr:
        if "transcribe: 0 segments" in line:
            break
    (transcribing,) = [row for row in status_rows(home) if row["status"] == "STARTED"]
    from dagster import DagsterInstance

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    try:
        with DagsterInstance.get() as instance:
            worker_pid = int(instance.get_run_by_id(transcribing["run_id"]).tags[TAG_PID])
    finally:
        os.environ.pop("DAGSTER_HOME")
    worker_group = os.getpgid(worker_pid)
    command.kill()
    command.communicate(timeout=30)
    if worker_too:
        os.killpg(worker_group, signal.SIGKILL)

    rows = {row["source_name"]: row for row in status_rows(home)}
    assert not any(row["status"] in {"NOT_STARTED", "QUEUED", "STARTING"} for row in rows.values())
    never_started = rows["zz next.wav"]
    assert never_started["status"] == "CANCELED"
    assert "ended before starting it" in never_started["error"]
    if worker_too:
        long_call = rows["long call.wav"]
        assert long_call["status"] == "FAILURE"
        assert long_call["error"].startswith("Run worker died in step transcribe"), long_call
        assert failures(home) == [("long call.wav", "transcribe", "WorkerDied")]
    else:  # the worker, told to stop when its command died, finishes the run it holds
        assert rows["long call.wav"]["status"] == "STARTED"
        wait_for(
            lambda: (
                {r["source_name"]: r["status"] for r in status_rows(home)}["long call.wav"]
                == "SUCCESS"
            ),
            180,
            "the worker to finish its run",
        )
        wait_for(lambda: not _alive(worker_pid), 60, "the worker to exit")
        assert failures(home) == []

    again = run_command(home, inbox)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    latest = {}
    for row in reversed(status_rows(home)):  # newest last: the latest run per file wins
        latest[row["source_name"]] = row["status"]
    assert latest == {"long call.wav": "SUCCESS", "zz next.wav": "SUCCESS"}
    assert not ALIVE & {row["status"] for row in status_rows(home)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_no_failure_row_for_a_recording_whose_later_run_succeeded(instance, tmp_path):
    """A run found dead late (a daemon that ran hours later) adds no failures row once a later
    run of the same recording has succeeded; before that, it does."""
    from dagster import DagsterRunStatus

    from whisper_pipeline.definitions import defs
    from whisper_pipeline.defs.jobs import PROCESS_RECORDING
    from whisper_pipeline.runtime.run_health import record_run_failure

    job = defs.resolve_job_def(PROCESS_RECORDING)
    tags = {"dagster/partition": "rec-a", TAG_STEP: "transcribe"}
    storage = PipelineStorage(home_dir=str(tmp_path / "home"))
    dead = instance.create_run_for_job(job, tags=tags, status=DagsterRunStatus.STARTED)
    assert record_run_failure(instance, storage, dead, "worker died", "WorkerDied") is True
    instance.create_run_for_job(job, tags=tags, status=DagsterRunStatus.SUCCESS)
    assert record_run_failure(instance, storage, dead, "worker died", "WorkerDied") is False
    other = instance.create_run_for_job(
        job, tags={**tags, "dagster/partition": "rec-b"}, status=DagsterRunStatus.STARTED
    )
    assert record_run_failure(instance, storage, other, "worker died", "WorkerDied") is True
    with storage.warehouse.query_connection() as con:
        rows = con.execute("SELECT recording_id, step FROM failures ORDER BY 1").fetchall()
    assert rows == [("rec-a", "transcribe"), ("rec-b", "transcribe")]
