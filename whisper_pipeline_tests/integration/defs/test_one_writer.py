"""One writer per result: a speaker renamed afterwards and the same speaker named from the
start (the steps themselves, called over turns that carry the name) give the same exports and
the same warehouse rows, because both go through storage/results.py."""

import shutil

from dagster import build_asset_context

from whisper_pipeline.defs.assets.analytics import recording_analytics
from whisper_pipeline.defs.assets.speaker_transcript import speaker_transcript
from whisper_pipeline.defs.resources.hand_off import RecordingResults
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
from whisper_pipeline.defs.speaker_names import relabel_diarization, rename_speaker
from whisper_pipeline.runtime import runner
from whisper_pipeline.storage import home
from whisper_pipeline.storage.results import write_speaker_turns
from whisper_pipeline_tests.in_process import process_in_process

TABLES = {
    "segments": "segment_index",
    "words": "start_s, word",
    "speaker_turns": "start_s, speaker",
    "speaker_embeddings": "speaker",
    "speaker_stats": "speaker",
}


def rows(storage: PipelineStorage, recording_id: str) -> dict[str, list]:
    with storage.warehouse.query_connection() as con:
        return {
            table: con.execute(
                f"SELECT * EXCLUDE (recording_id) FROM {table} WHERE recording_id = ?"
                f" ORDER BY {order}",
                [recording_id],
            ).fetchall()
            for table, order in TABLES.items()
        }


def exports(storage: PipelineStorage, recording_id: str) -> dict[str, bytes]:
    folder = storage.outputs_for(recording_id)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_rename_writes_what_naming_from_the_start_writes(
    instance, pipeline_home, sample_call, tmp_path
):
    call = tmp_path / "team call.wav"
    shutil.copyfile(sample_call, call)
    storage = PipelineStorage(home_dir=str(pipeline_home))
    (entry,) = runner.register(instance, storage.registry, [call])
    (outcome,) = process_in_process(instance, [entry])
    assert outcome.status == "succeeded", outcome
    recording_id = entry.recording_id
    results = RecordingResults(storage, recording_id)
    transcript, diarization = results.transcript, results.diarization

    rename_speaker(storage, recording_id, "SPEAKER_00", "Ana")

    # from the start: diarization names the speaker Ana (what its step writes), and the steps
    # downstream run on that, in a home that knows the same file
    named = relabel_diarization(diarization, "SPEAKER_00", "Ana")
    fresh = PipelineStorage(home_dir=str(tmp_path / "fresh"))
    shutil.copytree(home.registry_dir(pipeline_home), home.registry_dir(fresh.home))
    write_speaker_turns(fresh.warehouse, recording_id, named)
    with build_asset_context(partition_key=recording_id) as context:
        segments = speaker_transcript(
            context,
            transcript=transcript,
            diarization=named,
            storage=fresh,
            subtitles=SubtitleSettings(),
        ).value
        recording_analytics(
            context,
            transcript=transcript,
            diarization=named,
            speaker_transcript=segments,
            storage=fresh,
        )

    renamed_rows = rows(storage, recording_id)
    assert any(row for row in renamed_rows["speaker_stats"] if "Ana" in row)
    assert renamed_rows == rows(fresh, recording_id)
    assert exports(storage, recording_id) == exports(fresh, recording_id)
