"""A call recorded one voice per channel, through the whole job: both speakers of pyannote's
real call talking at once, each on their own channel. Mixed to mono, that is speech over
speech the model garbles; taken channel by channel, each voice is clear."""

import subprocess

import pytest

from whisper_pipeline.core.scoring import speaker_attributed_wer
from whisper_pipeline.defs.resources.hand_off import RecordingResults
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.speaker_names import rename_speaker
from whisper_pipeline.evaluation.samples import write_overlapping_stereo_call
from whisper_pipeline.runtime import runner
from whisper_pipeline_tests.in_process import process_in_process


@pytest.fixture
def calls(tmp_path):
    stereo = tmp_path / "in" / "support call.wav"
    stereo.parent.mkdir()
    references = write_overlapping_stereo_call(stereo)
    mono = tmp_path / "in" / "support call mono.wav"
    subprocess.run(["sox", str(stereo), str(mono), "remix", "1,2"], check=True)
    return stereo, mono, references


def test_each_side_of_a_two_channel_call_is_a_speaker_and_transcribed_on_its_own(
    instance, pipeline_home, calls
):
    stereo, mono, references = calls
    storage = PipelineStorage(home_dir=str(pipeline_home))
    entries = runner.register(instance, storage.registry, [stereo, mono])
    outcomes = process_in_process(instance, entries)
    stereo_run, mono_run = outcomes
    assert stereo_run.status == "succeeded", stereo_run
    # mixed to mono the overlapping speech is garbled: so much of it may get no words that the
    # blocking check stops the run before its analytics (it did on CI's hardware); its
    # transcript and speakers are written all the same
    assert mono_run.status == "succeeded" or "speech_has_words" in (mono_run.error or ""), mono_run
    by_name = {entry.source_name: entry.recording_id for entry in entries}
    with storage.warehouse.query_connection() as con:
        layouts = dict(
            con.execute("SELECT source_name, channel_layout FROM recording_files").fetchall()
        )
        said = {
            name: dict(
                con.execute(
                    "SELECT speaker, string_agg(text, ' ' ORDER BY start_s) FROM segments"
                    " WHERE recording_id = ? GROUP BY speaker",
                    [recording_id],
                ).fetchall()
            )
            for name, recording_id in by_name.items()
        }
        backends = dict(
            con.execute("SELECT source_name, diarization_backend FROM recordings").fetchall()
        )
    assert layouts == {"support call.wav": "one voice per channel", "support call mono.wav": "mono"}
    assert backends == {"support call.wav": "channels", "support call mono.wav": "offline"}
    assert set(said["support call.wav"]) == {"SPEAKER_00", "SPEAKER_01"}
    per_channel = speaker_attributed_wer(references, said["support call.wav"])
    mixed = speaker_attributed_wer(references, said["support call mono.wav"])
    assert per_channel <= 0.35, said["support call.wav"]  # the tiny model, on real voices
    assert mixed >= 2 * per_channel, (per_channel, mixed)
    # a side named by hand stays that side's speaker
    rename_speaker(storage, by_name["support call.wav"], "SPEAKER_00", "Diane")
    kept = RecordingResults(storage, by_name["support call.wav"]).diarization
    assert kept.extra["channel_speakers"] == ["Diane", "SPEAKER_01"]
