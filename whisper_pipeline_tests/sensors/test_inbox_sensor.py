"""The inbox sensor evaluated for real against a real Dagster instance and real files; the
requested batch runs executed for real."""

import hashlib
import os
import random
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter, build_schedule_context, build_sensor_context

from whisper_pipeline import runner
from whisper_pipeline.batch import BATCH_TAG, PROCESS_BATCH, requested_ids
from whisper_pipeline.definitions import defs
from whisper_pipeline.jobs import PROCESS_RECORDING
from whisper_pipeline.partitions import RECORDINGS_PARTITION
from whisper_pipeline.resources.storage import PipelineStorage
from whisper_pipeline.schedules import plan_retries, retry_failed_recordings
from whisper_pipeline.sensors.inbox import INBOX_SENSOR, IntakeSettings

HOUR_AGO = time.time() - 3600


def tick(instance, home: Path, cursor: str | None, **settings):
    """One sensor evaluation, then what the daemon does with its result: add the partitions."""
    resources = {
        "storage": PipelineStorage(home_dir=str(home)),
        "intake": IntakeSettings(**settings),
    }
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = defs.get_sensor_def(INBOX_SENSOR)(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def said(result) -> str:
    """The tick's skip message (what it found and why it requested nothing)."""
    return result.skip_reason.skip_message if result.skip_reason else ""


def requested(result) -> list[str]:
    return [rid for request in result.run_requests for rid in requested_ids(request.run_config)]


def age(path: Path) -> Path:
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


@pytest.fixture
def inbox(pipeline_home) -> Path:
    folder = pipeline_home / "inbox"
    folder.mkdir(parents=True)
    return folder


def test_a_file_still_being_copied_is_not_taken_until_stable(
    instance, pipeline_home, inbox, sample_call
):
    data = sample_call.read_bytes()
    target = inbox / "arriving call.wav"
    with open(target, "wb") as handle:
        handle.write(data[: len(data) // 3])
        handle.flush()
        first = tick(instance, pipeline_home, None, settle_s=1.0)
        assert first.run_requests == [] and "waiting" in said(first)
        time.sleep(1.2)
        handle.write(data[len(data) // 3 :])  # the copy goes on
        handle.flush()
        second = tick(instance, pipeline_home, first.cursor, settle_s=1.0)
        assert second.run_requests == [] and "being written" in said(second)
    time.sleep(1.2)
    third = tick(instance, pipeline_home, second.cursor, settle_s=1.0)
    (recording_id,) = requested(third)
    entry = PipelineStorage(home_dir=str(pipeline_home)).registry.get(recording_id)
    assert entry.content_sha256 == hashlib.sha256(data).hexdigest()  # the whole file, not a part
    assert instance.get_dynamic_partitions(RECORDINGS_PARTITION) == [recording_id]
    assert tick(instance, pipeline_home, third.cursor, settle_s=1.0).run_requests == []


def test_renamed_duplicates_are_one_recording_and_a_modified_file_a_new_version(
    instance, pipeline_home, inbox, sample_call
):
    (inbox / "nested" / "deeper").mkdir(parents=True)
    for name in ("call.wav", "nested/call (copy).wav", "nested/deeper/Anruf.wav"):
        age(Path(shutil.copyfile(sample_call, inbox / name)))
    first = tick(instance, pipeline_home, None)
    (recording_id,) = requested(first)
    assert instance.get_dynamic_partitions(RECORDINGS_PARTITION) == [recording_id]

    age(Path(shutil.copyfile(sample_call, inbox / "later copy.wav")))
    second = tick(instance, pipeline_home, first.cursor)
    assert second.run_requests == []
    assert f"later copy.wav has the content of recording {recording_id}" in said(second)

    with open(inbox / "call.wav", "ab") as handle:  # edited after processing: a new version
        handle.write(b"\0" * 3200)
    age(inbox / "call.wav")
    third = tick(instance, pipeline_home, second.cursor)
    (new_version,) = requested(third)
    assert new_version != recording_id
    assert sorted(instance.get_dynamic_partitions(RECORDINGS_PARTITION)) == sorted(
        [recording_id, new_version]
    )
    registry = PipelineStorage(home_dir=str(pipeline_home)).registry
    assert registry.get(new_version).source_path == str((inbox / "call.wav").resolve())


def test_500_files_dropped_at_once_are_registered_exactly_once_across_ticks(
    instance, pipeline_home, inbox
):
    rng = random.Random(5)
    contents = [rng.randbytes(200) for _ in range(480)]
    for index, content in enumerate(contents):
        folder = inbox / f"day{index % 7}"
        folder.mkdir(exist_ok=True)
        (folder / f"rec {index:03d}.wav").write_bytes(content)
    for index in range(20):  # 20 renamed copies among them
        (inbox / f"copy of {index}.mp3").write_bytes(contents[index * 3])
    for path in inbox.rglob("*.*"):
        age(path)

    cursor, ticks, run_keys, ids = None, 0, [], []
    while True:
        result = tick(instance, pipeline_home, cursor, max_per_tick=200, batch_size=20)
        cursor, ticks = result.cursor, ticks + 1
        if not result.run_requests and "0 waiting" in said(result):
            break
        batches = [requested_ids(request.run_config) for request in result.run_requests]
        assert all(len(batch) == 20 for batch in batches[:-1]) and len(batches[-1]) <= 20
        run_keys += [request.run_key for request in result.run_requests]
        ids += requested(result)
        assert ticks < 10
    assert ticks == 4  # 200 + 200 + 100 files, then nothing left
    assert len(ids) == len(set(ids)) == 480  # every content once, copies never
    assert len(run_keys) == len(set(run_keys))
    assert set(instance.get_dynamic_partitions(RECORDINGS_PARTITION)) == set(ids)
    registry = PipelineStorage(home_dir=str(pipeline_home)).registry
    hashes = {registry.get(rid).content_sha256 for rid in ids}
    assert hashes == {hashlib.sha256(content).hexdigest() for content in contents}
    last = tick(instance, pipeline_home, cursor)
    assert last.run_requests == [] and "500 already taken" in said(last)


@pytest.fixture
def processed_batch(instance, pipeline_home, inbox, sample_call, conversation, bad_files):
    """The sensor path for real: a tick, then the batch run it requested, executed."""
    age(Path(shutil.copyfile(sample_call, inbox / "call.wav")))
    age(Path(shutil.copyfile(conversation[0], inbox / "meeting.wav")))
    age(Path(shutil.copyfile(bad_files["text"], inbox / "notes.wav")))
    vanishing = age(Path(shutil.copyfile(bad_files["random"], inbox / "moved away.mp3")))
    result = tick(instance, pipeline_home, None)
    (request,) = result.run_requests
    vanishing.unlink()  # deleted between detection and processing
    outcome = defs.resolve_job_def(PROCESS_BATCH).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert outcome.success  # failed recordings fail their own runs, not the batch
    metadata = {
        key: value.value
        for event in outcome.all_events
        if event.is_successful_output
        for key, value in event.step_output_data.metadata.items()
    }
    # two recordings reached transcription and diarization: each model (ASR, diarizer) loaded
    # at most once for the batch (it may already be in this process's cache), borrowed twice
    assert metadata["model_loads"] <= 2
    assert metadata["model_loads"] + metadata["model_reuses"] == 4
    assert (metadata["succeeded"], metadata["failed"]) == (2, 2)
    return outcome.run_id, requested_ids(request.run_config)


def test_batch_runs_each_recording_in_its_own_run_and_failures_stay_alone(
    instance, pipeline_home, processed_batch
):
    batch_run_id, ids = processed_batch
    runs = instance.get_runs(RunsFilter(job_name=PROCESS_RECORDING, tags={BATCH_TAG: batch_run_id}))
    by_id = {run.tags["dagster/partition"]: run for run in runs}
    assert sorted(by_id) == sorted(ids)
    status = {rid.split("-")[0]: by_id[rid].status for rid in ids}
    assert status == {
        "call": DagsterRunStatus.SUCCESS,
        "meeting": DagsterRunStatus.SUCCESS,
        "notes": DagsterRunStatus.FAILURE,
        "moved": DagsterRunStatus.FAILURE,
    }
    storage = PipelineStorage(home_dir=str(pipeline_home))
    with storage.warehouse.query_connection() as con:
        words = dict(con.execute("SELECT source_name, words FROM recordings").fetchall())
        failures = dict(con.execute("SELECT source_name, error FROM failures").fetchall())
    assert words["call.wav"] > 40 and words["meeting.wav"] > 20
    assert set(failures) == {"notes.wav", "moved away.mp3"}
    assert "not decodable audio" in failures["notes.wav"]
    assert "file not found" in failures["moved away.mp3"]
    assert "moved or deleted" in failures["moved away.mp3"]


def test_the_batch_path_writes_the_same_rows_as_one_by_one_runs(
    instance, pipeline_home, tmp_path, processed_batch
):
    _, ids = processed_batch
    batch_storage = PipelineStorage(home_dir=str(pipeline_home))
    registry = batch_storage.registry
    good = [registry.get(rid) for rid in ids if rid.startswith(("call", "meeting"))]
    single_home = tmp_path / "one-by-one"
    single_storage = PipelineStorage(home_dir=str(single_home))
    entries = runner.register(
        instance, single_storage.registry, [Path(e.source_path) for e in good]
    )
    job = defs.resolve_job_def(PROCESS_RECORDING)
    for entry in entries:  # one run each, models loaded and released every time
        run_config = {"resources": {"storage": {"config": {"home_dir": str(single_home)}}}}
        (outcome,) = runner.process(job, instance, [entry], force=True, run_config=run_config)
        assert outcome.status == "succeeded"

    queries = {
        "segments": "SELECT * FROM segments ORDER BY ALL",
        "words": "SELECT * FROM words ORDER BY ALL",
        "speaker_stats": "SELECT * FROM speaker_stats ORDER BY ALL",
        "recordings": "SELECT * EXCLUDE (registered_at, transcribe_s, realtime_factor, "
        "transcribed_at, analyzed_at) FROM recordings ORDER BY recording_id",
    }
    for table, sql in queries.items():
        with batch_storage.warehouse.query_connection() as con:
            batch_rows = con.execute(sql).fetchall()
        with single_storage.warehouse.query_connection() as con:
            single_rows = con.execute(sql).fetchall()
        assert batch_rows and batch_rows == single_rows, table


def test_the_retry_schedule_requests_only_failed_recordings_with_retries_left(
    instance, pipeline_home, processed_batch
):
    _, ids = processed_batch
    failed = sorted(rid for rid in ids if rid.startswith(("notes", "moved")))
    later = time.time() + 3600
    plan = plan_retries(instance, max_retries=3, retry_after_s=600, now=later)
    assert sorted(plan.retry) == failed and plan.exhausted == [] and plan.in_flight == []
    assert plan_retries(instance, 3, 600, now=time.time()).retry == []  # too recent yet
    assert sorted(plan_retries(instance, 0, 600, later).exhausted) == failed

    resources = {"intake": IntakeSettings(retry_after_s=0)}
    with build_schedule_context(
        instance=instance, resources=resources, scheduled_execution_time=datetime.now(UTC)
    ) as context:
        (request,) = retry_failed_recordings(context)
    assert sorted(requested_ids(request.run_config)) == failed
    retry = defs.resolve_job_def(PROCESS_BATCH).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert retry.success
    # each failed once more: with max_retries=1 they are now out of retries
    assert sorted(plan_retries(instance, 1, 0, time.time() + 1).exhausted) == failed


def test_batch_runs_keep_the_model_settings_of_the_settings_file(
    instance, pipeline_home, inbox, sample_call, monkeypatch
):
    """The batch passes run config to its child runs (to keep models loaded between them);
    that must not drop what the deployment's settings file says about the model resources."""
    settings = pipeline_home / "settings.yaml"
    settings.write_text(
        "resources:\n"
        "  diarizer:\n    config: {backend: none}\n"
        "  asr:\n    config: {language: en, batch_size: 4}\n"
    )
    monkeypatch.setenv("WHISPER_PIPELINE_SETTINGS", str(settings))
    age(Path(shutil.copyfile(sample_call, inbox / "call.wav")))
    (request,) = tick(instance, pipeline_home, None).run_requests
    outcome = defs.resolve_job_def(PROCESS_BATCH).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert outcome.success
    (child,) = instance.get_runs(RunsFilter(tags={BATCH_TAG: outcome.run_id}))
    assert child.status == DagsterRunStatus.SUCCESS
    storage = PipelineStorage(home_dir=str(pipeline_home))
    with storage.warehouse.query_connection() as con:
        backend, reason, words = con.execute(
            "SELECT diarization_backend, diarization_skipped_reason, words FROM recordings"
        ).fetchone()
    assert backend == "none" and "disabled" in reason and words > 40
