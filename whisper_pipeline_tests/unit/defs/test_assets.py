"""Each step's own logic, called as a function with in-memory records and a home in a temporary
folder (no run, no model): what it hands on, writes and checks."""

import json

import pytest
from dagster import build_asset_context

from whisper_pipeline.core.records import Diarization, Segment, SpeakerTurn, Transcript, Word
from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.assets import PER_RECORDING_ASSETS
from whisper_pipeline.defs.assets.analytics import recording_analytics
from whisper_pipeline.defs.assets.metadata import recording_metadata
from whisper_pipeline.defs.assets.speaker_transcript import speaker_transcript
from whisper_pipeline.defs.assets.step import RecordingFailed
from whisper_pipeline.defs.resources import hand_off
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings

RECORDING = "standup-0a1b2c3d4e5f"


def words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, f" {text}", 0.9) for start, end, text in spans)


# Ana speaks first, then Ben answers; the last second is silence
TRANSCRIPT = Transcript(
    language="en",
    duration_s=6.0,
    segments=(
        Segment(
            0.5,
            2.0,
            "Good morning all.",
            words((0.5, 1.0, "Good"), (1.0, 1.4, "morning"), (1.5, 2.0, "all.")),
        ),
        Segment(2.6, 4.8, "Morning, Ana.", words((2.6, 3.4, "Morning,"), (3.6, 4.8, "Ana."))),
    ),
    model="tiny.en (bundled)",
    device="cpu",
    word_timestamps="whisper",
    transcribe_seconds=0.4,
)
DIARIZATION = Diarization(
    turns=(SpeakerTurn(0.4, 2.1, "Ana"), SpeakerTurn(2.5, 5.0, "SPEAKER_01")),
    backend="offline",
)


@pytest.fixture
def storage(tmp_path) -> PipelineStorage:
    return PipelineStorage(home_dir=str(tmp_path / "home"))


def call(asset, storage: PipelineStorage, **inputs):
    with build_asset_context(partition_key=RECORDING) as context:
        return asset(context, storage=storage, **inputs)


def test_speaker_transcript_gives_each_word_the_speaker_of_its_turn(storage):
    result = call(
        speaker_transcript,
        storage,
        transcript=TRANSCRIPT,
        diarization=DIARIZATION,
        subtitles=SubtitleSettings(),
    )
    segments = result.value
    assert [s.speaker for s in segments] == ["Ana", "SPEAKER_01"]
    assert {w.speaker for w in segments[1].words} == {"SPEAKER_01"}
    assert {c.check_name: c.passed for c in result.check_results} == {
        "speech_has_words": True,
        "speakers_have_words": True,
    }
    exported = json.loads((storage.outputs_for(RECORDING) / f"{RECORDING}.json").read_text())
    assert [s["speaker"] for s in exported["segments"]] == ["Ana", "SPEAKER_01"]
    with storage.warehouse.query_connection() as con:
        rows = con.execute(
            "SELECT speaker, text FROM segments WHERE recording_id = ? ORDER BY segment_index",
            [RECORDING],
        ).fetchall()
    assert rows == [("Ana", "Good morning all."), ("SPEAKER_01", "Morning, Ana.")]
    assert result.metadata["file"] == RECORDING  # not registered here: its id names it


def test_speech_no_word_covers_fails_its_checks(storage):
    # someone speaks 3.5 s after the transcript's last word: diarization heard them, Whisper not
    longer = Transcript(**{**TRANSCRIPT.__dict__, "duration_s": 9.0})
    unheard = Diarization(
        turns=(*DIARIZATION.turns, SpeakerTurn(5.5, 9.0, "SPEAKER_02")), backend="offline"
    )
    result = call(
        speaker_transcript,
        storage,
        transcript=longer,
        diarization=unheard,
        subtitles=SubtitleSettings(),
    )
    checks = {c.check_name: c for c in result.check_results}
    assert not checks["speech_has_words"].passed
    assert not checks["speakers_have_words"].passed
    assert checks["speakers_have_words"].description == "no words for SPEAKER_02 (3.5 s of talk)"


def test_analytics_add_up_to_the_recording(storage):
    segments = call(
        speaker_transcript,
        storage,
        transcript=TRANSCRIPT,
        diarization=DIARIZATION,
        subtitles=SubtitleSettings(),
    ).value
    result = call(
        recording_analytics,
        storage,
        transcript=TRANSCRIPT,
        diarization=DIARIZATION,
        speaker_transcript=segments,
    )
    stats = result.value
    by_speaker = {row.speaker: row for row in stats.speakers}
    assert by_speaker["Ana"].words == 3 and by_speaker["SPEAKER_01"].words == 2
    assert by_speaker["Ana"].talk_time_s == pytest.approx(1.7)
    assert sum(row.talk_share for row in stats.speakers) == pytest.approx(1.0, abs=1e-3)
    assert stats.silence_ratio == pytest.approx(1 - (1.7 + 2.5) / 6.0, abs=0.01)
    assert [c.passed for c in result.check_results] == [True]
    with storage.warehouse.query_connection() as con:
        (speakers,) = con.execute(
            "SELECT speakers FROM recording_stats WHERE recording_id = ?", [RECORDING]
        ).fetchone()
    assert speakers == 2


def test_a_file_that_is_not_audio_fails_the_metadata_step_with_its_name(storage, tmp_path):
    notes = tmp_path / "meeting notes.wav"
    notes.write_text("these are notes, not audio\n" * 100)
    entry = storage.registry.register(notes)
    with (
        build_asset_context(partition_key=entry.recording_id) as context,
        pytest.raises(RecordingFailed) as failed,
    ):
        recording_metadata(context, storage=storage)
    assert "recording_metadata" in failed.value.description
    assert "not decodable audio" in failed.value.description
    with storage.warehouse.query_connection() as con:
        rows = con.execute("SELECT step, source_name, error_type FROM failures").fetchall()
    assert rows == [("recording_metadata", "meeting notes.wav", "RecordingError")]


def test_every_step_hands_on_through_the_io_manager_and_outside_readers_name_its_assets():
    keys = {asset.key for asset in PER_RECORDING_ASSETS}
    assert {hand_off.TRANSCRIPT, hand_off.DIARIZATION, hand_off.SPEAKER_TRANSCRIPT} <= keys
    for asset in PER_RECORDING_ASSETS:
        assert asset.get_io_manager_key_for_asset_key(asset.key) == hand_off.HAND_OFF
    assert defs.resources[hand_off.HAND_OFF] is hand_off.step_hand_off
