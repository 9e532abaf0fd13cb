"""The run monitor against real runs in real processes: killed, stalled, healthy, retried."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    build_sensor_context,
)

from whisper_pipeline import runner
from whisper_pipeline.assets.step import TAG_PID, TAG_SEGMENTS, TAG_STEP
from whisper_pipeline.instance import prepare_dagster_home
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.resources.storage import PipelineStorage
from whisper_pipeline.sensors.run_monitor import (
    MonitorLimits,
    RunMonitorSettings,
    find_stuck_runs,
    monitor_runs,
    run_monitor,
)
from whisper_pipeline_tests.conftest import env_for, kill_group, start_daemon, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def long_call(tmp_path, sample_call) -> Path:
    """Four minutes of real speech: long enough to be caught mid-transcription, and to outlast
    the 10 s progress throttle several times now that CPU transcription runs ~12x real time."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "long call.wav"
    subprocess.run(["sox", *[str(sample_call)] * 8, str(path)], check=True)
    return path


@pytest.fixture
def home(pipeline_home, monkeypatch) -> Path:
    home = pipeline_home
    dagster_home = prepare_dagster_home(home)  # sets DAGSTER_HOME for this test
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return home


def the_run(instance: DagsterInstance):
    runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))
    return runs[-1] if runs else None


def transcribing(instance: DagsterInstance):
    run = the_run(instance)
    if run and run.tags.get(TAG_STEP) == "transcribe" and int(run.tags.get(TAG_SEGMENTS, "0")) > 0:
        return run
    return None


def failure_message(instance: DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return records[-1].event_log_entry.message


def evaluate_monitor(instance, home, stall_after_s=900.0):
    context = build_sensor_context(
        instance=instance,
        resources={
            "storage": PipelineStorage(home_dir=str(home)),
            "run_monitor_settings": RunMonitorSettings(stall_after_s=stall_after_s),
        },
    )
    return run_monitor(context)


def failures(home: Path):
    with PipelineStorage(home_dir=str(home)).warehouse.query_connection() as con:
        return con.execute("SELECT step, error, segments, run_id FROM failures").fetchall()


def cli_run(home: Path, path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "whisper_pipeline.cli", "run", str(path)],
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_stalled_run_is_detected_after_the_threshold_killed_and_failed_with_context(
    home, long_call
):
    instance = DagsterInstance.get()
    worker = cli_run(home, long_call)
    try:
        run = wait_for(lambda: transcribing(instance), 180, "transcription to start")
        assert int(run.tags[TAG_PID]) == worker.pid
        worker.send_signal(signal.SIGSTOP)  # alive, holding its models, making no progress
        assert find_stuck_runs(instance, time.time(), MonitorLimits(stall_after_s=60)) == []
        time.sleep(4)
        evaluate_monitor(instance, home, stall_after_s=3)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    run = instance.get_run_by_id(run.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    message = failure_message(instance, run.run_id)
    segments = run.tags[TAG_SEGMENTS]
    assert message.startswith(f"Stuck in step transcribe ({segments} segments); last update ")
    assert message.endswith("s ago")
    assert failures(home) == [("transcribe", message, int(segments), run.run_id)]


def test_canceled_run_whose_worker_lives_on_is_stopped_and_stays_canceled(home, long_call):
    instance = DagsterInstance.get()
    worker = cli_run(home, long_call)
    try:
        run = wait_for(lambda: transcribing(instance), 180, "transcription to start")
        # what Dagster does after cancel_timeout_seconds: the run is canceled, its process is not
        instance.report_run_canceled(run)
        assert worker.poll() is None
        handled = monitor_runs(
            instance, PipelineStorage(home_dir=str(home)), MonitorLimits(terminate_grace_s=30)
        )
        assert [(stuck.kind, stuck.step) for stuck, _ in handled] == [
            ("canceled_alive", "transcribe")
        ]
        assert (
            worker.wait(timeout=60) == 130
        )  # SIGTERM: it stopped its step and released its models
    finally:
        if worker.poll() is None:
            worker.kill()
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELED
    records = instance.get_records_for_run(run.run_id).records
    messages = [r.event_log_entry.message or r.event_log_entry.user_message for r in records]
    expected = "Run monitor: Canceled run still held its worker in step transcribe"
    assert any(expected in m for m in messages), messages
    assert find_stuck_runs(instance, time.time(), MonitorLimits()) == []


def test_healthy_long_step_is_never_flagged_and_shows_progress(home, long_call):
    instance = DagsterInstance.get()
    worker = cli_run(home, long_call)
    percents, statuses = [], []
    try:
        while worker.poll() is None:
            assert find_stuck_runs(instance, time.time(), MonitorLimits(stall_after_s=60)) == []
            run = the_run(instance)
            if run and run.tags.get(TAG_STEP) == "transcribe" and "whisper/percent" in run.tags:
                percents.append(float(run.tags["whisper/percent"]))
                if len(statuses) < 1:
                    status = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "whisper_pipeline.cli",
                            "status",
                            "--format",
                            "json",
                        ],
                        env=env_for(home),
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    statuses.append(json.loads(status.stdout)[0])
            time.sleep(1)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert percents == sorted(percents) and len(set(percents)) >= 2  # tags moved while it ran
    (active,) = statuses
    assert active["status"] == "STARTED" and active["step"] == "transcribe"
    assert active["step_elapsed_s"] is not None and active["percent"] is not None
    run = the_run(instance)
    logs = [
        r.event_log_entry.user_message for r in instance.get_records_for_run(run.run_id).records
    ]
    progress = [m for m in logs if m.startswith("transcribe: ") and "of 4m00s audio" in m]
    assert progress and "segments" in progress[-1] and "elapsed" in progress[0]


def test_dead_worker_is_failed_with_step_context_and_retried(home, long_call):
    instance = DagsterInstance.get()
    storage = PipelineStorage(home_dir=str(home))
    (entry,) = runner.register(instance, storage.registry, [long_call])
    daemon = start_daemon(home)
    try:
        launch = subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "job",
                "launch",
                "-w",
                str(REPO / "workspace.yaml"),
                "-j",
                PROCESS_RECORDING,
                "--tags",
                json.dumps({"dagster/partition": entry.recording_id}),
            ],
            env=env_for(home),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert launch.returncode == 0, launch.stderr
        run = wait_for(lambda: transcribing(instance), 240, "the launched run to transcribe")
        worker_pid = int(run.tags[TAG_PID])
        assert worker_pid != daemon.pid
        # the daemon, its code server and the run worker die together (a container restart)
        kill_group(daemon)
        wait_for(lambda: not _alive(worker_pid), 30, "the worker to be gone")
        assert (
            instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        )  # nobody noticed
        evaluate_monitor(instance, home)
        run = instance.get_run_by_id(run.run_id)
        assert run.status == DagsterRunStatus.FAILURE
        segments = run.tags[TAG_SEGMENTS]
        message = failure_message(instance, run.run_id)
        assert (
            message
            == f"Run worker died in step transcribe ({segments} segments) (pid {worker_pid} gone)"
        )
        assert failures(home) == [("transcribe", message, int(segments), run.run_id)]
        # Dagster's run retries (dagster.yaml: run_retries) requeue it while retries remain
        daemon = start_daemon(home)
        retry = wait_for(
            lambda: next(
                (
                    r
                    for r in instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))
                    if r.parent_run_id == run.run_id
                ),
                None,
            ),
            120,
            "a retry run",
        )
        assert retry.tags.get("dagster/partition") == entry.recording_id
        assert retry.tags.get("dagster/retry_number") == "1"
    finally:
        kill_group(daemon)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    )
