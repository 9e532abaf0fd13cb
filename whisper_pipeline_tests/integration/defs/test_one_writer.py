"""One writer per result: a speaker renamed afterwards and the same speaker named from the
start (the steps' own assignment over turns that carry the name) give the same exports and
the same warehouse rows, because both go through storage/results.py."""

import shutil

from whisper_pipeline.core.analytics import compute_stats
from whisper_pipeline.core.exports import DEFAULT_STYLE
from whisper_pipeline.core.speakers import assign_speakers
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.speaker_names import relabel_diarization, rename_speaker
from whisper_pipeline.runtime import runner
from whisper_pipeline.storage.results import (
    write_speaker_stats,
    write_speaker_turns,
    write_transcript_results,
)
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
    transcript = storage.step_outputs.load("transcript", recording_id)
    diarization = storage.step_outputs.load("diarization", recording_id)

    rename_speaker(storage, recording_id, "SPEAKER_00", "Ana")

    # from the start: diarization names the speaker Ana; each step writes as it does in a run
    named = relabel_diarization(diarization, "SPEAKER_00", "Ana")
    fresh = PipelineStorage(home_dir=str(tmp_path / "fresh"))
    write_speaker_turns(fresh.warehouse, recording_id, named)
    segments = assign_speakers(
        transcript.segments, named.turns, channel_speakers=named.extra.get("channel_speakers") or ()
    )
    write_transcript_results(
        fresh.warehouse,
        fresh.outputs_for(recording_id),
        recording_id,
        transcript,
        segments,
        named.turns,
        storage.shown_name(recording_id),
        DEFAULT_STYLE,
    )
    write_speaker_stats(
        fresh.warehouse, recording_id, compute_stats(transcript.duration_s, segments, named.turns)
    )

    renamed_rows = rows(storage, recording_id)
    assert any(row for row in renamed_rows["speaker_stats"] if "Ana" in row)
    assert renamed_rows == rows(fresh, recording_id)
    assert exports(storage, recording_id) == exports(fresh, recording_id)
