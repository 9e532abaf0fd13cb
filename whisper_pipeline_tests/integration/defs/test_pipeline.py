"""The real pipeline through a real Dagster instance: whisperx, DuckDB, Parquet, exports."""

import json
import re
import shutil
import subprocess

import pytest
from dagster import AssetKey, AssetRecordsFilter

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.runtime import runner
from whisper_pipeline.storage.warehouse import Warehouse
from whisper_pipeline_tests.in_process import process_in_process

STEPS = (
    "recording_metadata",
    "transcript",
    "diarization",
    "speaker_transcript",
    "recording_analytics",
)


def run(instance, home, paths, force=False, resources=None):
    storage = PipelineStorage(home_dir=str(home))
    entries = runner.register(instance, storage.registry, paths, storage.warehouse)
    config = {"resources": {"storage": {"config": {"home_dir": str(home)}}, **(resources or {})}}
    outcomes = process_in_process(instance, entries, force, config)
    return storage, {o.source_path.rsplit("/", 1)[-1]: o for o in outcomes}


def count(warehouse: Warehouse, sql: str, *params):
    with warehouse.query_connection() as con:
        return con.execute(sql, list(params)).fetchall()


def materialization_records(instance, asset: str, partition: str):
    records_filter = AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition])
    return instance.fetch_materializations(records_filter, limit=100).records


def materializations(instance, asset: str, partition: str) -> int:
    return len(materialization_records(instance, asset, partition))


def test_a_batch_with_bad_files_fails_only_those(
    instance, pipeline_home, recordings_dir, bad_files
):
    paths = sorted(recordings_dir.iterdir()) + list(bad_files.values())
    storage, outcomes = run(instance, pipeline_home, paths)
    good = {"Café call v1.2 (final).wav", "réunion budget.mp3"}
    assert {name for name, o in outcomes.items() if o.status == "succeeded"} == good
    expected_problem = {
        "empty.wav": "file is empty",
        "notes.wav": "not decodable audio",
        "noise bytes.mp3": "not decodable audio",
        "cut off.m4a": "not decodable audio",
    }
    for name, problem in expected_problem.items():
        outcome = outcomes[name]
        assert outcome.status == "failed"
        assert "Step recording_metadata failed" in outcome.error and problem in outcome.error
        assert name in outcome.error  # the message names the file
    # the reason is on the failed partition itself (an observation the UI shows there)
    notes = outcomes["notes.wav"].recording_id
    (shown,) = instance.fetch_observations(
        AssetRecordsFilter(asset_key=AssetKey("recording_metadata"), asset_partitions=[notes]),
        limit=5,
    ).records
    assert "not decodable audio" in shown.asset_observation.description
    rows = count(
        storage.warehouse, "SELECT source_name, step, error, run_id FROM failures ORDER BY 1"
    )
    assert [(r[0], r[1]) for r in rows] == sorted(
        (n, "recording_metadata") for n in expected_problem
    )
    assert all(r[3] == outcomes[r[0]].run_id for r in rows)
    recordings = count(
        storage.warehouse,
        "SELECT source_name, language, words, duration_s, realtime_factor FROM recordings ORDER BY 1",
    )
    assert [r[0] for r in recordings] == sorted(good)
    for _name, language, words, duration, rtf in recordings:
        assert language == "en" and words > 40 and duration > 20 and 0 < rtf < 5


def test_results_land_in_warehouse_exports_and_asset_metadata(
    instance, pipeline_home, sample_call, tmp_path
):
    source = tmp_path / "in" / "weekly.sync.call.wav"
    source.parent.mkdir()
    shutil.copyfile(sample_call, source)
    storage, outcomes = run(instance, pipeline_home, [source])
    outcome = outcomes["weekly.sync.call.wav"]
    assert outcome.status == "succeeded", outcome.error
    recording_id = outcome.recording_id
    assert recording_id.startswith("weekly-sync-call-")
    for step in STEPS:
        assert materializations(instance, step, recording_id) == 1
    event = instance.get_latest_materialization_event(AssetKey("transcript"))
    metadata = event.asset_materialization.metadata
    assert metadata["language"].value == "en" and metadata["words"].value > 50
    assert metadata["model"].value == "tiny.en (bundled)" and metadata["device"].value == "cpu"
    assert metadata["word_timestamps"].value == "whisper"
    diarization = instance.get_latest_materialization_event(AssetKey("diarization"))
    diarized = diarization.asset_materialization.metadata
    assert diarized["status"].value == "diarized" and diarized["backend"].value == "offline"
    # faster than real time even on a busy machine (speed itself is measured in bench/)
    assert diarized["speakers"].value == 2 and diarized["realtime_factor"].value > 1
    assert diarized["speaker_count"].value == "automatic"
    folder = storage.outputs_for(recording_id)
    assert sorted(p.suffix for p in folder.iterdir()) == [
        ".json",
        ".rttm",
        ".srt",
        ".tsv",
        ".txt",
        ".vtt",
    ]
    document = json.loads((folder / f"{recording_id}.json").read_text())
    assert document["source"] == "weekly.sync.call.wav" and document["duration"] == 30.0
    assert document["model"] == "tiny.en (bundled)" and document["language"] == "en"
    assert {"start", "end", "text", "speaker", "words"} <= set(document["segments"][0])
    assert (
        len(document["segments"])
        == count(
            storage.warehouse, "SELECT count(*) FROM segments WHERE recording_id = ?", recording_id
        )[0][0]
    )
    stats = count(storage.warehouse, "SELECT speaker, words, talk_time_s FROM speaker_stats")
    assert sorted(s[0] for s in stats) == ["SPEAKER_00", "SPEAKER_01"]
    assert all(s[1] > 10 and s[2] > 5 for s in stats)
    silence = count(storage.warehouse, "SELECT silence_ratio FROM recordings")[0][0]
    assert 0.1 < silence < 0.5  # the call starts with 6.7 s of silence


def test_processing_the_same_file_twice_leaves_one_set_of_rows(
    instance, pipeline_home, sample_call
):
    storage, _ = run(instance, pipeline_home, [sample_call])
    tables = ("segments", "words", "speaker_stats", "recordings")
    before = {t: count(storage.warehouse, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    _, outcomes = run(instance, pipeline_home, [sample_call])
    assert outcomes["sample.wav"].status == "skipped"  # nothing left to do
    _, outcomes = run(instance, pipeline_home, [sample_call], force=True)
    assert outcomes["sample.wav"].status == "succeeded"
    after = {t: count(storage.warehouse, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert after == before and before["recordings"] == 1 and before["words"] > 50


def test_failed_diarization_keeps_transcript_and_rerun_repeats_only_what_failed(
    instance, pipeline_home, sample_call, tmp_path
):
    broken = {"diarizer": {"config": {"pipeline": str(tmp_path / "no-such-pipeline")}}}
    storage, outcomes = run(instance, pipeline_home, [sample_call], resources=broken)
    outcome = outcomes["sample.wav"]
    assert outcome.status == "failed" and "Step diarization failed" in outcome.error
    assert "could not be loaded" in outcome.error
    recording_id = outcome.recording_id
    # the transcript survives: queryable and exported, without speakers
    words = count(storage.warehouse, "SELECT count(*), count(speaker) FROM words")[0]
    assert words[0] > 50 and words[1] == 0
    assert (storage.outputs_for(recording_id) / f"{recording_id}.srt").exists()
    assert count(storage.warehouse, "SELECT step FROM failures") == [("diarization",)]
    job = defs.resolve_job_def(PROCESS_RECORDING)
    assert [
        k.to_user_string() for k in runner.steps_to_run(job, instance, recording_id, False)
    ] == [
        "diarization",
        "speaker_transcript",
        "recording_analytics",
    ]
    _, outcomes = run(instance, pipeline_home, [sample_call])
    assert outcomes["sample.wav"].status == "succeeded"
    assert outcomes["sample.wav"].steps == (
        "diarization",
        "speaker_transcript",
        "recording_analytics",
    )
    assert materializations(instance, "transcript", recording_id) == 1
    assert materializations(instance, "recording_analytics", recording_id) == 1


def test_silent_and_very_short_recordings_succeed_with_no_speech(
    instance, pipeline_home, silent_file, tiny_file
):
    storage, outcomes = run(instance, pipeline_home, [silent_file, tiny_file])
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    for outcome in outcomes.values():
        records = materialization_records(instance, "transcript", outcome.recording_id)
        metadata = records[0].asset_materialization.metadata
        assert metadata["note"].value == "no speech detected" and metadata["segments"].value == 0
    rows = count(storage.warehouse, "SELECT no_speech, segments, silence_ratio FROM recordings")
    assert rows == [(True, 0, 1.0), (True, 0, 1.0)]


def test_a_file_deleted_after_registration_fails_with_a_clear_message(
    instance, pipeline_home, sample_call, tmp_path
):
    source = tmp_path / "soon gone.wav"
    shutil.copyfile(sample_call, source)
    storage = PipelineStorage(home_dir=str(pipeline_home))
    (entry,) = runner.register(instance, storage.registry, [source])
    source.unlink()
    (outcome,) = process_in_process(instance, [entry])
    assert outcome.status == "failed"
    assert "soon gone.wav: file not found" in outcome.error


def test_a_half_copied_file_is_superseded_when_the_whole_file_arrives(
    instance, pipeline_home, sample_call, tmp_path
):
    """`run` on a WAV while it is being copied: the part already there is processed (for
    ffprobe, a WAV lasts as long as its data); once the whole file is there, the next `run`
    processes it as a new version and the partial one leaves the views (no stale row in
    `recordings`)."""
    source = tmp_path / "in" / "board call.wav"
    source.parent.mkdir()
    whole = sample_call.read_bytes()
    source.write_bytes(whole[: len(whole) * 2 // 5])
    storage, outcomes = run(instance, pipeline_home, [source])
    partial = outcomes["board call.wav"]
    assert partial.status == "succeeded", partial.error  # a WAV's length is its data's length
    source.write_bytes(whole)
    storage, outcomes = run(instance, pipeline_home, [source])
    complete = outcomes["board call.wav"]
    assert complete.status == "succeeded" and complete.recording_id != partial.recording_id
    rows = count(storage.warehouse, "SELECT recording_id, duration_s FROM recordings")
    assert rows == [(complete.recording_id, 30.0)]
    assert count(storage.warehouse, "SELECT DISTINCT recording_id FROM segments") == [
        (complete.recording_id,)
    ]
    assert storage.registry.get(partial.recording_id).superseded_by == complete.recording_id


def check_evaluations(instance, run_id: str) -> dict[str, object]:
    """The run's asset check results by check name."""
    from dagster import DagsterEventType

    events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    return {
        e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
        for e in events
    }


def test_checks_are_green_on_a_real_call_and_warn_of_a_truncated_file(
    instance, pipeline_home, sample_call, tmp_path
):
    """Every check runs on every recording, lands in the warehouse, and says what it found:
    pyannote's real call passes them all; an mp3 cut to a third of its bytes (its header
    still promises the whole length) is transcribed, with a truncation warning."""
    whole = tmp_path / "whole.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sample_call), "-b:a", "64k", str(whole)],
        check=True,
    )
    cut = tmp_path / "cut short.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    phone = {"subtitles": {"config": {"max_line_width": 30, "max_line_count": 1}}}
    storage, outcomes = run(instance, pipeline_home, [sample_call, cut], resources=phone)
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    # (the subtitle layout setting reaches the files: one line of at most 30 columns per cue)
    recording_id = outcomes["sample.wav"].recording_id
    srt = (storage.outputs_for(recording_id) / f"{recording_id}.srt").read_text()
    blocks = [block.splitlines() for block in srt.strip().split("\n\n")]
    assert all(len(block) == 3 and len(block[2]) <= 30 for block in blocks), blocks[:3]
    checks = check_evaluations(instance, outcomes["sample.wav"].run_id)
    assert set(checks) == {
        "speaker_count_within_limit",
        "no_repetition_loops",
        "decodes_completely",
        "speech_has_words",
        "speakers_have_words",
        "totals_add_up",
    }
    assert all(c.passed for c in checks.values()), {
        n: c.description for n, c in checks.items() if not c.passed
    }
    truncated = check_evaluations(instance, outcomes["cut short.mp3"].run_id)
    decoded = truncated["decodes_completely"]
    assert not decoded.passed and decoded.severity.value == "WARN"
    assert re.search(r"truncated: only \d+\.\d s of 30\.\d s decodable", decoded.description)
    rows = count(
        storage.warehouse,
        "SELECT r.source_name, c.check_name, c.passed, r.duration_s, t.duration_s"
        " FROM checks c JOIN recordings r USING (recording_id)"
        " JOIN (SELECT recording_id, max(end_s) AS duration_s FROM segments GROUP BY 1) t"
        " USING (recording_id) ORDER BY 1, 2",
    )
    assert len(rows) == 12
    failed = [(r[0], r[1]) for r in rows if not r[2]]
    assert failed == [("cut short.mp3", "decodes_completely")]
    cut_rows = [r for r in rows if r[0] == "cut short.mp3"]
    assert cut_rows[0][4] < 12.0  # words only from the part that decodes


@pytest.mark.parametrize(
    "view",
    [
        "recordings",
        "segments",
        "words",
        "speaker_turns",
        "speaker_embeddings",
        "speaker_stats",
        "failures",
        "checks",
    ],
)
def test_documented_columns_are_the_views_columns(view, tmp_path):
    from whisper_pipeline_tests.docs_tables import documented_columns

    with Warehouse(tmp_path).query_connection() as con:
        actual = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
    assert actual == documented_columns(view)
