"""The inbox sensor evaluated for real against a real Dagster instance and real files; each
new recording is requested as a run of its own."""

import hashlib
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from dagster import build_sensor_context

from whisper_pipeline.core.tags import SOURCE_NAME_TAG
from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.partitions import RECORDINGS_PARTITION
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.sensors.inbox import INBOX_SENSOR, IntakeSettings

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
    return [request.partition_key for request in result.run_requests]


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
        result = tick(instance, pipeline_home, cursor, max_per_tick=200)
        cursor, ticks = result.cursor, ticks + 1
        if not result.run_requests and "0 waiting" in said(result):
            break
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


def test_each_new_recording_is_requested_as_its_own_partitioned_run(
    instance, pipeline_home, inbox, sample_call, conversation
):
    age(Path(shutil.copyfile(sample_call, inbox / "call.wav")))
    age(Path(shutil.copyfile(conversation[0], inbox / "meeting.wav")))
    result = tick(instance, pipeline_home, None)
    requests = {request.tags[SOURCE_NAME_TAG]: request for request in result.run_requests}
    assert sorted(requests) == ["call.wav", "meeting.wav"]
    for name, request in requests.items():
        assert request.partition_key.startswith(name.split(".")[0] + "-")
        assert request.run_key == f"inbox:{request.partition_key}"  # never twice per recording
    job = defs.resolve_job_def(PROCESS_RECORDING)
    assert defs.get_sensor_def(INBOX_SENSOR).job_name == job.name
