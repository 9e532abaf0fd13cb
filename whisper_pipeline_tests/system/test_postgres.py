"""The production setup for real: PostgreSQL instance (dagster-postgres), the daemon's run queue
with the `gpu` pool, and two Celery run workers on one Redis broker, each keeping its models."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
import redis
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._serdes import deserialize_value

from whisper_pipeline.core.tags import PARTITION_TAG, TAG_STEP, TAG_WORKER
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.runtime import runner
from whisper_pipeline.runtime.instance import (
    INSTANCE_CONFIGS,
    instance_config_source,
    prepare_dagster_home,
)
from whisper_pipeline_tests.conftest import (
    NO_DIARIZATION,
    kill_group,
    spawn_group,
    start_worker,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_DBS = (7, 8)  # broker, results
WORKERS = ("w1@pipeline-test", "w2@pipeline-test")


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
def broker():
    """Redis on 127.0.0.1, two emptied databases (broker and task results)."""
    for db in REDIS_DBS:
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()
    yield tuple(f"redis://127.0.0.1:6379/{db}" for db in REDIS_DBS)
    for db in REDIS_DBS:
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


@pytest.fixture(scope="module")
def production_env(database, broker, tmp_path_factory):
    """The production instance config, polled every 2 s instead of every minute (the only
    change), selected by WHISPER_PIPELINE_INSTANCE."""
    home = tmp_path_factory.mktemp("pg-home")
    config = yaml.safe_load(instance_config_source("production").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 2
    instance_file = home / INSTANCE_CONFIGS["production"]
    instance_file.write_text(yaml.safe_dump(config))
    settings = {"resources": {"intake": {"config": {"interval_s": 2, "stable_age_s": 0}}}}
    (home / "settings.yaml").write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        {
            "WHISPER_PIPELINE_HOME": str(home),
            "WHISPER_PIPELINE_INSTANCE": str(instance_file),
            "DAGSTER_PG_HOST": SERVER["host"],
            "DAGSTER_PG_PORT": str(SERVER["port"]),
            "DAGSTER_PG_USER": SERVER["user"],
            "DAGSTER_PG_PASSWORD": "not-needed-with-trust-auth",
            "DAGSTER_PG_DB": database,
            "WHISPER_PIPELINE_BROKER": broker[0],
            "WHISPER_PIPELINE_RESULT_BACKEND": broker[1],
        }
    )
    return env


@pytest.fixture(scope="module")
def cluster(production_env):
    """The daemon (sensors, run queue, run monitoring, run retries) and two workers."""
    home = Path(production_env["WHISPER_PIPELINE_HOME"])
    daemon = spawn_group(
        [sys.executable, "-m", "whisper_pipeline.cli", "with-instance", "dagster-daemon", "run"]
        + ["-w", str(REPO / "workspace.yaml")],
        production_env,
        cwd=REPO,
    )
    workers = {name: start_worker(home, name, production_env) for name in WORKERS}
    try:
        yield {"daemon": daemon, "workers": workers, "home": home}
    finally:
        for process in [daemon, *workers.values()]:
            kill_group(process)


@pytest.fixture
def instance(production_env, monkeypatch):
    for key, value in production_env.items():
        monkeypatch.setenv(key, value)
    home = Path(production_env["WHISPER_PIPELINE_HOME"])
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    prepare_dagster_home(home)
    instance = DagsterInstance.get()
    yield instance
    instance.dispose()


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
def processed(cluster, production_env, sample_call, bad_files, tmp_path_factory):
    """`whisper-pipeline run` on the production instance: it queues the runs and follows them."""
    inbox = tmp_path_factory.mktemp("pg-inbox")
    shutil.copyfile(sample_call, inbox / "pg call.wav")
    shutil.copyfile(bad_files["random"], inbox / "garbage.mp3")
    return cli(production_env, "run", str(inbox))


def test_production_instance_is_postgres_chosen_by_one_variable(production_env, processed):
    info = cli(production_env, "with-instance", "dagster", "instance", "info")
    assert info.returncode == 0, info.stderr
    assert "PostgresRunStorage" in info.stdout and "PostgresEventLogStorage" in info.stdout
    assert "default_limit: 1" in info.stdout and "max_retries: 2" in info.stdout
    assert processed.returncode == 1, processed.stderr  # the garbage file failed, the call not
    assert "garbage.mp3: Step recording_metadata failed" in processed.stderr


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
        "daily_totals": 1,  # refreshed by `run` itself
        "recording_index": 1,  # likewise
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


def test_daemon_sensor_ticks_are_stored_in_postgres(database, processed):
    ticks = wait_for(lambda: sql(database, "SELECT tick_body FROM job_ticks"), 120, "a tick")
    bodies = [json.loads(body) for (body,) in ticks]
    assert any("run_monitor" in json.dumps(body) for body in bodies)
    assert ("SENSOR",) in sql(database, "SELECT daemon_type FROM daemon_heartbeats")


def test_instance_api_sees_the_same_runs(instance, processed):
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_launcher).__name__ == "PipelineRunLauncher"
    assert not instance.run_launcher.embedded  # the Redis broker of the environment
    runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))
    assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]


def recording_runs(instance) -> list:
    return instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING))


def materialization_metadata(instance, run_id: str, asset: str) -> dict:
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event.asset_key == AssetKey(asset):
            return {
                k: v.value
                for k, v in event.step_materialization_data.materialization.metadata.items()
            }
    return {}


def run_span(instance, run_id: str) -> tuple[float, float]:
    """When the run's process started and ended executing steps (from the event log)."""
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS}
    ).records
    times = [record.event_log_entry.timestamp for record in records]
    return min(times), max(times)


def test_twenty_recordings_on_two_workers_one_run_each_models_loaded_once_per_worker(
    cluster, production_env, processed, sample_call, tmp_path, instance
):
    folder = tmp_path / "twenty"
    folder.mkdir()
    for index in range(20):  # 20 different stretches of a real call, 2.5-4.4 s long
        start, length = index * 1.2, 2.5 + (index % 5) * 0.45
        subprocess.run(
            ["sox", str(sample_call), str(folder / f"clip {index:02d}.wav")]
            + ["trim", f"{start:.2f}", f"{length:.2f}"],
            check=True,
        )
    result = cli(production_env, "run", str(folder), timeout=900)
    assert result.returncode == 0, result.stderr
    registry = PipelineStorage(home_dir=str(cluster["home"])).registry
    ids = {rid for rid in registry.ids() if registry.get(rid).source_name.startswith("clip ")}
    assert len(ids) == 20
    runs = [run for run in recording_runs(instance) if run.tags.get(PARTITION_TAG) in ids]
    assert sorted(run.tags[PARTITION_TAG] for run in runs) == sorted(ids)  # one run each
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    assert {run.tags[TAG_WORKER] for run in runs} <= set(WORKERS)  # which worker ran it

    # each worker loaded each model once, over every run it executed in this module
    succeeded = [r for r in recording_runs(instance) if r.status == DagsterRunStatus.SUCCESS]
    for worker in {run.tags[TAG_WORKER] for run in succeeded}:
        mine = [run for run in succeeded if run.tags[TAG_WORKER] == worker]
        for asset in ("transcript", "diarization"):
            caches = [materialization_metadata(instance, r.run_id, asset) for r in mine]
            loads = [c["model_cache"] for c in caches if c and c["model_cache"] != "hit"]
            assert len(loads) == 1, (worker, asset, loads)

    # the gpu pool (limit 1, run granularity): no two runs executed at the same time
    spans = sorted(run_span(instance, run.run_id) for run in runs)
    for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert end <= next_start, spans


def test_a_worker_killed_mid_transcription_fails_the_run_with_context_and_another_retries_it(
    cluster, processed, sample_call, tmp_path, instance
):
    long_call = tmp_path / "long call.wav"
    subprocess.run(["sox", *[str(sample_call)] * 8, str(long_call)], check=True)
    storage = PipelineStorage(home_dir=str(cluster["home"]))
    (entry,) = runner.register(instance, storage.registry, [long_call])
    (launched,), _ = runner.launch_recordings(instance, [entry], run_config=NO_DIARIZATION)

    def transcribing():
        run = instance.get_run_by_id(launched.run_id)
        return run if run.tags.get(TAG_STEP) == "transcribe" else None

    run = wait_for(transcribing, 300, "the run to be transcribing")
    victim = run.tags[TAG_WORKER]
    kill_group(cluster["workers"][victim])  # the whole worker, as a host that went away

    failed = wait_for(
        lambda: (r := instance.get_run_by_id(run.run_id)).is_finished and r, 120, "the failure"
    )
    assert failed.status == DagsterRunStatus.FAILURE
    (failure,) = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.RUN_FAILURE
    ).records
    message = failure.event_log_entry.message
    assert (
        "Run worker died in step transcribe (" in message and " segments); last update " in message
    )

    retry = wait_for(
        lambda: next((r for r in recording_runs(instance) if r.parent_run_id == run.run_id), None),
        120,
        "Dagster's run retry",
    )
    retry = wait_for(
        lambda: (r := instance.get_run_by_id(retry.run_id)).is_finished and r, 400, "the retry"
    )
    assert retry.status == DagsterRunStatus.SUCCESS
    assert retry.tags[TAG_WORKER] != victim and retry.tags["dagster/retry_number"] == "1"
    with storage.warehouse.query_connection() as con:  # nothing lost, nothing twice
        (recordings,) = con.execute(
            "SELECT count(*) FROM recordings WHERE recording_id = ?", [entry.recording_id]
        ).fetchone()
        (segments,) = con.execute(
            "SELECT count(*) FROM segments WHERE recording_id = ?", [entry.recording_id]
        ).fetchone()
    expected = materialization_metadata(instance, retry.run_id, "transcript")["segments"]
    assert recordings == 1 and segments == expected


def test_undecodable_input_is_not_retried(instance, processed):
    """By now the run-retry daemon has handled the garbage file's failure (the killed worker's
    run, which failed later, was retried): deterministic failures are left alone."""
    (garbage,) = [
        r for r in recording_runs(instance) if r.tags.get(PARTITION_TAG, "").startswith("garbage-")
    ]
    assert garbage.status == DagsterRunStatus.FAILURE
    assert garbage.tags.get("dagster/retry_on_asset_or_op_failure") == "false"
    assert not [r for r in recording_runs(instance) if r.parent_run_id == garbage.run_id]


def test_inbox_sensor_runs_on_the_workers_and_its_cursor_lives_in_postgres(
    database, cluster, instance, conversation
):
    inbox = cluster["home"] / "inbox"
    inbox.mkdir(exist_ok=True)
    shutil.copyfile(conversation[0], inbox / "pg meeting.wav")
    run = wait_for(
        lambda: next(
            (
                r
                for r in recording_runs(instance)
                if r.tags.get("dagster/sensor_name") == "recordings_inbox" and r.is_finished
            ),
            None,
        ),
        300,
        "the sensor's run to finish",
        interval_s=2,
    )
    assert run.status == DagsterRunStatus.SUCCESS and run.tags[TAG_WORKER] in WORKERS
    assert run.tags["whisper/source_name"] == "pg meeting.wav"
    (cursor,) = sql(
        database,
        "SELECT instigator_body FROM instigators WHERE instigator_body LIKE '%recordings_inbox%'",
    )
    stored = json.loads(deserialize_value(cursor[0]).instigator_data.cursor)
    assert len(stored["taken"]) == 1  # the taken file is remembered in PostgreSQL
    partitions = [row[0] for row in sql(database, "SELECT partition FROM dynamic_partitions")]
    assert any(p.startswith("pg-meeting-") for p in partitions)
