"""The run monitor and the launcher's worker health check against real runs in real workers:
stalled, killed, healthy."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, build_sensor_context
from dagster._core.launcher import WorkerStatus

from whisper_pipeline.core.tags import (
    CELERY_TASK_ID_TAG,
    TAG_PERCENT,
    TAG_PID,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_UPDATED,
)
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.runtime import runner
from whisper_pipeline.runtime.instance import prepare_dagster_home
from whisper_pipeline.runtime.run_monitor import (
    RunMonitorSettings,
    find_stalled_runs,
    run_monitor,
)
from whisper_pipeline_tests.conftest import (
    NO_DIARIZATION,
    kill_group,
    start_worker,
    status_rows,
    wait_for,
)


@pytest.fixture
def long_call(tmp_path, sample_call) -> Path:
    """Six minutes of real speech: long enough to be caught mid-transcription, and to outlast
    the 10 s progress throttle at least twice at ~12x real time on CPU (four minutes gave a
    single update after the first on a fast machine)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "long call.wav"
    subprocess.run(["sox", *[str(sample_call)] * 12, str(path)], check=True)
    return path


@pytest.fixture
def home(pipeline_home, monkeypatch) -> Path:
    dagster_home = prepare_dagster_home(pipeline_home)  # the local instance: embedded broker
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    DagsterInstance.get().dispose()  # its storage exists before a worker opens it too
    return pipeline_home


@pytest.fixture
def worker(home):
    process = start_worker(home, "monitor@test")
    yield process
    kill_group(process)


def launch(instance: DagsterInstance, home: Path, path: Path, run_config=None) -> str:
    storage = PipelineStorage(home_dir=str(home))
    (entry,) = runner.register(instance, storage.registry, [path])
    (launched,), _ = runner.launch_recordings(instance, [entry], run_config=run_config)
    return launched.run_id


def transcribing(instance: DagsterInstance, run_id: str):
    """The run once it is in its transcribe step (~18 s of it remain for this call)."""
    run = instance.get_run_by_id(run_id)
    return run if run.tags.get(TAG_STEP) == "transcribe" else None


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


def finished(instance: DagsterInstance, run_id: str):
    run = instance.get_run_by_id(run_id)
    return run if run.is_finished else None


def test_stalled_run_is_detected_after_the_threshold_killed_and_failed_with_context(
    home, worker, long_call
):
    instance = DagsterInstance.get()
    run_id = launch(instance, home, long_call, NO_DIARIZATION)
    run = wait_for(lambda: transcribing(instance, run_id), 180, "transcription to start")
    child = int(run.tags[TAG_PID])  # the worker's pool process running the steps
    assert child != worker.pid
    os.kill(child, signal.SIGSTOP)  # alive, holding its models, making no progress
    try:
        assert find_stalled_runs(instance, time.time(), stall_after_s=60) == []
        time.sleep(4)
        evaluate_monitor(instance, home, stall_after_s=3)
        wait_for(lambda: not _alive(child), 30, "the stalled process to be killed")
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
    run = instance.get_run_by_id(run.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    message = failure_message(instance, run.run_id)
    segments = run.tags[TAG_SEGMENTS]
    assert message.startswith(f"Stuck in step transcribe ({segments} segments); last update ")
    assert message.endswith("s ago")
    assert failures(home) == [("transcribe", message, int(segments), run.run_id)]
    assert worker.poll() is None  # the worker lives on with a fresh pool process


def test_healthy_long_step_is_never_flagged_and_shows_progress(home, worker, long_call):
    instance = DagsterInstance.get()
    run_id = launch(instance, home, long_call)
    percents, statuses = [], []
    while not finished(instance, run_id):
        assert find_stalled_runs(instance, time.time(), stall_after_s=60) == []
        run = instance.get_run_by_id(run_id)
        if run.tags.get(TAG_STEP) == "transcribe" and TAG_PERCENT in run.tags:
            percents.append(float(run.tags[TAG_PERCENT]))
            if not statuses:
                statuses.append(status_rows(home)[0])
        time.sleep(1)
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
    assert percents == sorted(percents) and len(set(percents)) >= 2  # tags moved while it ran
    (active,) = statuses
    assert active["status"] == "STARTED" and active["step"] == "transcribe"
    assert active["step_elapsed_s"] is not None and active["percent"] is not None
    assert active["source_name"] == "long call.wav"
    logs = [r.event_log_entry.user_message for r in instance.get_records_for_run(run_id).records]
    progress = [m for m in logs if m.startswith("transcribe: ") and "of 6m00s audio" in m]
    assert progress and "segments" in progress[-1] and "elapsed" in progress[0]


def test_a_killed_worker_is_reported_dead_with_step_context(home, worker, long_call):
    """What Dagster's run monitoring asks the launcher on every poll: the whole worker was
    killed (Celery still says STARTED), and the answer names the step."""
    instance = DagsterInstance.get()
    run_id = launch(instance, home, long_call, NO_DIARIZATION)
    run = wait_for(lambda: transcribing(instance, run_id), 180, "transcription to start")
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    # a concurrent status write can drop the task-id tag: the worker still names the task, so
    # the run can be terminated (dagster-celery's own terminate raised KeyError there)
    task_id = run.tags[CELERY_TASK_ID_TAG]
    untagged = run.with_tags({k: v for k, v in run.tags.items() if k != CELERY_TASK_ID_TAG})
    assert instance.run_launcher.task_id_of(untagged) == task_id
    kill_group(worker)
    wait_for(lambda: not _alive(int(run.tags[TAG_PID])), 30, "the worker to be gone")
    run = instance.get_run_by_id(run_id)
    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED
    segments = run.tags[TAG_SEGMENTS]
    assert health.msg.startswith(f"Run worker died in step transcribe ({segments} segments)")
    assert f"worker process {run.tags[TAG_PID]}" in health.msg


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    )


def test_a_retry_is_not_stuck_or_dead_because_of_its_parents_tags():
    """Dagster copies a run's tags to its retries: the parent's last progress (16 minutes old)
    and worker pid must not make the fresh retry look stuck or dead."""
    from dagster import DagsterRun

    from whisper_pipeline.core.tags import TAG_PROGRESS_RUN, own_tags, time_tag
    from whisper_pipeline.defs.jobs import PROCESS_RECORDING

    now = time.time()
    progress = {
        TAG_STEP: "transcribe",
        TAG_SEGMENTS: "45",
        TAG_UPDATED: time_tag(now - 16 * 60),
        TAG_PID: "999999",
    }
    with DagsterInstance.ephemeral() as instance:
        parent = DagsterRun(
            job_name=PROCESS_RECORDING,
            run_id="parent",
            status=DagsterRunStatus.STARTED,
            tags={**progress, TAG_PROGRESS_RUN: "parent"},
        )
        retry = DagsterRun(
            job_name=PROCESS_RECORDING,
            run_id="retry",
            status=DagsterRunStatus.STARTED,
            tags={**parent.tags, "dagster/parent_run_id": "parent"},
        )
        instance.add_run(parent)
        instance.add_run(retry)
        (stalled,) = find_stalled_runs(instance, now, stall_after_s=900)
        assert stalled.run_id == "parent"
        assert "stuck in step transcribe (45 segments); last update 16m" in stalled.message.lower()
        assert own_tags(retry) == {"dagster/parent_run_id": "parent"}
        assert own_tags(parent) == parent.tags
