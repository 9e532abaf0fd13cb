"""The inbox through the real Dagster daemon: its cursor survives a restart, the runs it
launches execute in a real run worker (Celery, embedded broker), an undecodable file is not
retried, and the UI's GraphQL API re-executes a sensor-made run."""

import shutil
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from whisper_pipeline.core.tags import TAG_WORKER
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.sensors.inbox import INBOX_SENSOR
from whisper_pipeline.runtime.instance import prepare_dagster_home
from whisper_pipeline.storage.inbox import InboxCursor
from whisper_pipeline_tests.conftest import (
    env_for,
    kill_group,
    reexecute,
    start_daemon,
    start_webserver,
    start_worker,
    wait_for,
)

SETTLE_S = 10.0  # far longer than the 2 s between ticks: the daemon is stopped in between


@pytest.fixture
def home(pipeline_home, monkeypatch) -> Path:
    dagster_home = prepare_dagster_home(pipeline_home)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    settings = {
        "resources": {
            "intake": {"config": {"interval_s": 2, "settle_s": SETTLE_S, "stable_age_s": 3600}}
        }
    }
    (pipeline_home / "settings.yaml").write_text(yaml.safe_dump(settings))
    return pipeline_home


def inbox_state(instance: DagsterInstance):
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == INBOX_SENSOR:
            return state
    return None


def inbox_ticks(instance: DagsterInstance):
    state = inbox_state(instance)
    if state is None:
        return []
    return instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=50)


def finished(instance: DagsterInstance, run_id: str):
    run = instance.get_run_by_id(run_id)
    return run if run.is_finished else None


def test_the_cursor_survives_a_daemon_restart_and_runs_execute_in_a_worker(
    home, sample_call, bad_files
):
    instance = DagsterInstance.get()
    inbox = home / "inbox"
    inbox.mkdir()
    shutil.copyfile(sample_call, inbox / "morning call.wav")  # just arrived: must settle
    shutil.copyfile(bad_files["text"], inbox / "not audio.wav")

    daemon = start_daemon(home)
    try:
        seen = wait_for(
            lambda: [t for t in inbox_ticks(instance) if t.status == TickStatus.SKIPPED],
            120,
            "a first look at the inbox",
        )
        assert "2 waiting" in seen[-1].skip_reason

        def stored_cursor():  # the daemon stores the cursor just after finishing the tick
            data = inbox_state(instance).instigator_data
            cursor = InboxCursor.from_json(data.cursor) if data and data.cursor else None
            return cursor if cursor and cursor.waiting else None

        cursor = wait_for(stored_cursor, 30, "the cursor of that tick")
    finally:
        kill_group(daemon)
    assert sorted(cursor.waiting) == ["morning call.wav", "not audio.wav"]
    assert instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING)) == []

    time.sleep(max(0.0, seen[0].timestamp + SETTLE_S - time.time()))
    restarted_at = time.time()
    daemon = start_daemon(home)
    worker = start_worker(home, "inbox@test")
    webserver = None
    try:
        first_after = wait_for(
            lambda: [
                t
                for t in inbox_ticks(instance)[::-1]  # oldest first
                if t.timestamp > restarted_at and t.status != TickStatus.STARTED
            ][:1],
            120,
            "a finished tick after the restart",
        )[0]
        # the observations from before the restart counted: taken on the very first tick
        assert first_after.status == TickStatus.SUCCESS, first_after.skip_reason
        assert len(first_after.run_ids) == 2  # one run per recording
        runs = [
            wait_for(lambda r=run_id: finished(instance, r), 300, "the runs", interval_s=2)
            for run_id in first_after.run_ids
        ]
        status = {run.tags["whisper/source_name"]: run.status for run in runs}
        assert status == {
            "morning call.wav": DagsterRunStatus.SUCCESS,
            "not audio.wav": DagsterRunStatus.FAILURE,
        }
        assert {run.tags["dagster/sensor_name"] for run in runs} == {INBOX_SENSOR}
        assert {run.tags[TAG_WORKER] for run in runs} == {"inbox@test"}

        webserver, url = start_webserver(env_for(home))
        (good,) = [run for run in runs if run.status == DagsterRunStatus.SUCCESS]
        again = reexecute(url, good.run_id)  # the UI's Re-execute on a sensor-made run
        rerun = wait_for(lambda: finished(instance, again), 300, "the re-execution")
        assert rerun.status == DagsterRunStatus.SUCCESS and rerun.parent_run_id == good.run_id
        # by now the daemon had many chances to retry the undecodable file: it did not
        (bad,) = [run for run in runs if run.status == DagsterRunStatus.FAILURE]
        children = [
            run
            for run in instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))
            if run.parent_run_id == bad.run_id
        ]
        assert children == []
    finally:
        for process in (daemon, worker, webserver):
            if process is not None:
                kill_group(process)
    with PipelineStorage(home_dir=str(home)).warehouse.query_connection() as con:
        (words,) = con.execute("SELECT words FROM recordings").fetchone()
        failures = con.execute("SELECT source_name, step FROM failures").fetchall()
    assert words > 40
    assert failures == [("not audio.wav", "recording_metadata")]
