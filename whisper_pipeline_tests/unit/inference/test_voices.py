"""Voices folder layout and one-to-one naming of speakers."""

import numpy as np
import pytest

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.inference.voices import (
    VoiceLibrary,
    name_speakers,
    speaker_speech,
    voice_samples,
)


def test_voice_samples_group_files_by_name(tmp_path):
    for name in ("Alice.wav", "Alice_2.mp3", "Bob-Smith.wav", ".hidden.wav", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "Carol").mkdir()
    (tmp_path / "Carol" / "standup.m4a").write_bytes(b"x")
    found = {name: sorted(p.name for p in paths) for name, paths in voice_samples(tmp_path).items()}
    assert found == {
        "Alice": ["Alice.wav", "Alice_2.mp3"],
        "Bob-Smith": ["Bob-Smith.wav"],
        "Carol": ["standup.m4a"],
    }
    with pytest.raises(ConfigurationError, match="does not exist"):
        voice_samples(tmp_path / "missing")


def test_each_name_goes_to_its_best_speaker_above_the_threshold():
    a, b, c = np.eye(3, 256, dtype=np.float32)
    library = VoiceLibrary({"Alice": a, "Bob": b}, folder="voices")
    speakers = {
        "SPEAKER_00": a * 0.9 + b * 0.1,  # Alice
        "SPEAKER_01": a * 0.7 + b * 0.3,  # also close to Alice, but SPEAKER_00 is closer
        "SPEAKER_02": c,  # nobody known
    }
    named = name_speakers(speakers, library, min_similarity=0.8)
    assert set(named) == {"SPEAKER_00"} and named["SPEAKER_00"][0] == "Alice"


def test_speaker_speech_takes_solo_speech_only():
    audio = np.arange(16_000 * 10, dtype=np.float32)
    turns = [SpeakerTurn(0.0, 6.0, "A"), SpeakerTurn(5.0, 10.0, "B")]
    speech = speaker_speech(audio, turns)
    assert len(speech["A"]) == 16_000 * 5 and len(speech["B"]) == 16_000 * 4
    assert speech["B"][0] == 16_000 * 6  # B alone starts where A stops


def test_a_folder_for_a_name_never_leaves_the_voices_folder():
    from whisper_pipeline.inference.voices import voice_folder_name

    assert voice_folder_name("Ana Lopez") == "Ana Lopez"
    assert voice_folder_name("../etc/Ana") == "etc Ana"
    with pytest.raises(ConfigurationError):
        voice_folder_name(" / ")


def test_the_voices_fingerprint_changes_when_a_sample_is_added(tmp_path):
    from whisper_pipeline.inference.voices import folder_fingerprint

    (tmp_path / "Alice.wav").write_bytes(b"x")
    before = folder_fingerprint(tmp_path)
    (tmp_path / "Bob").mkdir()
    (tmp_path / "Bob" / "call.wav").write_bytes(b"y")
    assert folder_fingerprint(tmp_path) != before
    assert folder_fingerprint(None) == () == folder_fingerprint(tmp_path / "missing")
