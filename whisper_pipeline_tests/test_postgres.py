"""The pipeline on a real PostgreSQL instance (dagster-postgres), selected by one variable."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
import yaml
from dagster import DagsterInstance, RunsFilter, build_schedule_context
from dagster._serdes import deserialize_value

from whisper_pipeline.batch import requested_ids
from whisper_pipeline.instance import prepare_dagster_home
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.schedules import retry_failed_recordings
from whisper_pipeline.sensors.inbox import IntakeSettings
from whisper_pipeline_tests.conftest import kill_group, spawn_group

REPO = Path(__file__).resolve().parent.parent
SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture(scope="module")
def database():
    """A fresh database for this module, dropped afterwards."""
    name = f"whisper_pipeline_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **SERVER)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture(scope="module")
def production_env(database, tmp_path_factory):
    home = tmp_path_factory.mktemp("pg-home")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        {
            "WHISPER_PIPELINE_HOME": str(home),
            "WHISPER_PIPELINE_INSTANCE": "production",
            "DAGSTER_PG_HOST": SERVER["host"],
            "DAGSTER_PG_PORT": str(SERVER["port"]),
            "DAGSTER_PG_USER": SERVER["user"],
            "DAGSTER_PG_PASSWORD": "not-needed-with-trust-auth",
            "DAGSTER_PG_DB": database,
        }
    )
    return env


def sql(database: str, query: str):
    connection = psycopg2.connect(dbname=database, **SERVER)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()
    finally:
        connection.close()


def cli(env, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "whisper_pipeline.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def processed(production_env, sample_call, bad_files, tmp_path_factory):
    inbox = tmp_path_factory.mktemp("pg-inbox")
    shutil.copyfile(sample_call, inbox / "pg call.wav")
    shutil.copyfile(bad_files["random"], inbox / "garbage.mp3")
    return cli(production_env, "run", str(inbox))


def test_production_instance_is_postgres_chosen_by_one_variable(production_env, processed):
    info = cli(production_env, "with-instance", "dagster", "instance", "info")
    assert info.returncode == 0, info.stderr
    assert "PostgresRunStorage" in info.stdout and "PostgresEventLogStorage" in info.stdout
    assert (
        "default_limit: 1" in info.stdout and "max_retries: 2" in info.stdout
    )  # gpu pool, retries
    assert processed.returncode == 1  # the garbage file failed, the call succeeded


def test_runs_events_and_partitions_live_in_postgres(database, processed):
    runs = dict(sql(database, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert runs == {"SUCCESS": 1, "FAILURE": 1}
    partitions = [row[0] for row in sql(database, "SELECT partition FROM dynamic_partitions")]
    assert any(p.startswith("pg-call-") for p in partitions) and any(
        p.startswith("garbage-") for p in partitions
    )
    materialized = sql(
        database,
        "SELECT asset_key, count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key",
    )
    assert {json.loads(key)[0]: n for key, n in materialized} == {
        "recording_metadata": 1,
        "transcript": 1,
        "diarization": 1,
        "speaker_transcript": 1,
        "recording_analytics": 1,
    }


def test_status_and_warehouse_work_on_the_postgres_instance(production_env, processed):
    status = cli(production_env, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    rows = {row["recording_id"].split("-")[0]: row for row in json.loads(status.stdout)}
    assert rows["pg"]["status"] == "SUCCESS"
    assert (
        rows["garbage"]["status"] == "FAILURE" and "not decodable audio" in rows["garbage"]["error"]
    )
    query = cli(
        production_env, "query", "--format", "json", "SELECT source_name, step FROM failures"
    )
    assert json.loads(query.stdout) == [
        {"source_name": "garbage.mp3", "step": "recording_metadata"}
    ]


def test_daemon_sensor_ticks_are_stored_in_postgres(database, production_env, processed):
    daemon = spawn_group(
        [
            sys.executable,
            "-m",
            "whisper_pipeline.cli",
            "with-instance",
            "dagster-daemon",
            "run",
            "-w",
            str(REPO / "workspace.yaml"),
        ],
        production_env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        ticks = []
        while time.monotonic() < deadline and not ticks:
            time.sleep(2)
            ticks = sql(database, "SELECT tick_body FROM job_ticks")
        assert ticks, "the daemon recorded no sensor tick"
        bodies = [json.loads(body) for (body,) in ticks]
        assert any("run_monitor" in json.dumps(body) for body in bodies)
        heartbeats = sql(database, "SELECT daemon_type FROM daemon_heartbeats")
        assert ("SENSOR",) in heartbeats
    finally:
        kill_group(daemon)


def test_instance_api_sees_the_same_runs(production_env, processed, monkeypatch):
    for key, value in production_env.items():
        monkeypatch.setenv(key, value)
    from whisper_pipeline.home import resolve_home

    prepare_dagster_home(resolve_home())
    instance = DagsterInstance.get()
    try:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))
        assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]
    finally:
        instance.dispose()


def test_inbox_sensor_cursor_batch_runs_and_schedules_work_on_postgres(
    database, production_env, processed, conversation, monkeypatch
):
    """Last in this module: it adds runs the tests above do not expect."""
    home = Path(production_env["WHISPER_PIPELINE_HOME"])
    settings = {"resources": {"intake": {"config": {"interval_s": 2, "stable_age_s": 0}}}}
    (home / "settings.yaml").write_text(yaml.safe_dump(settings))
    (home / "inbox").mkdir(exist_ok=True)
    shutil.copyfile(conversation[0], home / "inbox" / "pg meeting.wav")
    daemon = spawn_group(
        [sys.executable, "-m", "whisper_pipeline.cli", "with-instance", "dagster-daemon", "run"]
        + ["-w", str(REPO / "workspace.yaml")],
        production_env,
        cwd=REPO,
    )
    try:  # sensor tick -> queued batch run -> launched by the run queue -> finished
        deadline = time.monotonic() + 300
        batches = []
        while time.monotonic() < deadline:
            time.sleep(2)
            batches = sql(database, "SELECT status FROM runs WHERE pipeline_name = 'process_batch'")
            if batches and batches[0][0] in ("SUCCESS", "FAILURE"):
                break
        assert batches == [("SUCCESS",)]
    finally:
        kill_group(daemon)
    (cursor,) = sql(
        database,
        "SELECT instigator_body FROM instigators WHERE instigator_body LIKE '%recordings_inbox%'",
    )
    stored = json.loads(deserialize_value(cursor[0]).instigator_data.cursor)
    assert len(stored["taken"]) == 1  # the taken file is remembered in PostgreSQL
    partitions = [row[0] for row in sql(database, "SELECT partition FROM dynamic_partitions")]
    assert any(p.startswith("pg-meeting-") for p in partitions)

    for key, value in production_env.items():
        monkeypatch.setenv(key, value)
    prepare_dagster_home(home)
    instance = DagsterInstance.get()
    try:  # the failed-recordings schedule reads the runs stored in PostgreSQL
        with build_schedule_context(
            instance=instance,
            resources={"intake": IntakeSettings(retry_after_s=0)},
            scheduled_execution_time=datetime.now(UTC),
        ) as context:
            (request,) = retry_failed_recordings(context)
        (retried,) = requested_ids(request.run_config)
        assert retried.startswith("garbage-")
    finally:
        instance.dispose()
