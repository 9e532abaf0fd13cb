"""What steps hand on survives the code moving: JSON with stable type names, not pickles."""

import json

import numpy as np
import pytest

from whisper_pipeline.core.analytics import compute_stats
from whisper_pipeline.core.records import (
    Diarization,
    RecordingFacts,
    Segment,
    SpeakerTurn,
    Transcript,
    Word,
)
from whisper_pipeline.storage.step_outputs import StepOutputStore

WORDS = (Word(0.5, 1.0, " Hello", 0.9, "SPEAKER_00"), Word(1.1, 1.6, " there.", None, None))
SEGMENTS = (Segment(0.5, 1.6, "Hello there.", WORDS, "SPEAKER_00", -0.21, "en"),)
TURNS = (SpeakerTurn(0.4, 1.7, "SPEAKER_00"), SpeakerTurn(1.5, 3.0, "Ana"))
VALUES = {
    "recording_metadata": RecordingFacts(
        "r", "/in/a.wav", "ab12", 10, 5, 3.0, "pcm", 16000, 1, "wav"
    ),
    "transcript": Transcript("en", 3.0, SEGMENTS, "tiny.en (bundled)", "cpu", "whisper", 0.5),
    "diarization": Diarization(
        TURNS,
        "offline",
        voice_vectors={"SPEAKER_00": (0.1, 0.2), "Ana": (0.3, 0.4)},
        named={"Ana": None},
        extra={"audio_s": np.float32(3.0), "windows": np.arange(3)},
    ),
    "speaker_transcript": list(SEGMENTS),
    "recording_analytics": compute_stats(3.0, SEGMENTS, TURNS),
}


@pytest.mark.parametrize("step", list(VALUES))
def test_each_step_result_comes_back_equal(tmp_path, step):
    store = StepOutputStore(tmp_path)
    store.save(step, "rec-1", VALUES[step])
    loaded = store.load(step, "rec-1")
    if step == "diarization":  # numpy values come back as plain numbers and lists
        assert loaded.extra == {"audio_s": 3.0, "windows": [0, 1, 2]}
        assert loaded.turns == TURNS and loaded.named == {"Ana": None}
        assert loaded.voice_vectors == {"SPEAKER_00": (0.1, 0.2), "Ana": (0.3, 0.4)}
    else:
        assert loaded == VALUES[step]


def test_documents_name_types_not_modules_so_moving_code_keeps_them_readable(tmp_path):
    store = StepOutputStore(tmp_path)
    store.save("transcript", "rec-1", VALUES["transcript"])
    text = (tmp_path / "transcript" / "rec-1.json").read_text()
    assert "whisper_pipeline" not in text and '"@type":"Transcript"' in text
    document = json.loads(text)
    del document["value"]["language_note"]  # written before a field existed: its default
    document["value"]["added_later"] = 1  # written by a newer version: ignored
    (tmp_path / "transcript" / "rec-1.json").write_text(json.dumps(document))
    assert store.load("transcript", "rec-1") == VALUES["transcript"]


def test_a_missing_result_says_which_step_and_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="result of step transcript .* --force"):
        StepOutputStore(tmp_path).load("transcript", "rec-1")


def test_a_document_from_a_newer_version_is_refused_clearly(tmp_path):
    path = tmp_path / "transcript" / "rec-1.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"format": "whisper-pipeline step output", "version": 99, "value": {}})
    )
    with pytest.raises(ValueError, match="newer whisper-pipeline"):
        StepOutputStore(tmp_path).load("transcript", "rec-1")


def test_a_value_of_an_unknown_type_is_refused():
    from dataclasses import dataclass

    from whisper_pipeline.storage.step_outputs import encode

    @dataclass
    class Transcript:  # the same name, another class
        text: str

    with pytest.raises(TypeError, match="not a record type"):
        encode(Transcript("x"))
