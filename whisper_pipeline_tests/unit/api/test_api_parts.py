"""The API's own pieces: file names that are only labels, tokens kept hashed, the response
shapes of the APIs it imitates."""

import json

import pytest

from whisper_pipeline.api.formats import (
    openai_diarized,
    openai_verbose,
    speaker_letters,
    whisper_result,
)
from whisper_pipeline.api.tokens import TokenError, TokenStore
from whisper_pipeline.api.uploads import safe_file_name


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("board call.wav", "board call.wav"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\call.mp3", "call.mp3"),
        ("na\0me\n.wav", "name.wav"),
        ("..", "recording"),
        (".hidden.wav", "hidden.wav"),
        ("", "recording"),
        (None, "recording"),
        ("Überweisung – Köln.m4a", "Überweisung – Köln.m4a"),
    ],
)
def test_a_client_file_name_is_only_ever_a_label(given, kept):
    assert safe_file_name(given) == kept


def test_a_very_long_name_is_cut_to_200_bytes_keeping_its_extension():
    name = safe_file_name("é" * 5000 + ".wav")
    assert name.endswith(".wav") and len(name.encode()) <= 200
    assert name[:-4] == "é" * len(name[:-4])  # no character cut in half


def test_tokens_are_stored_hashed_and_revocable(tmp_path):
    store = TokenStore(tmp_path)
    token = store.create("ci")
    assert token.startswith("wp_") and len(token) > 40
    stored = store.path.read_text()
    assert token not in stored and json.loads(stored)[0]["hint"] == token[-4:]
    assert store.holder(token) == "ci"
    assert store.holder(token + "x") is None and store.holder("") is None
    with pytest.raises(TokenError, match="exists"):
        store.create("ci")
    second = store.create("laptop")
    store.revoke("ci")
    assert store.holder(token) is None and store.holder(second) == "laptop"
    assert [t.name for t in store.list()] == ["laptop"]
    with pytest.raises(TokenError, match="no token"):
        store.revoke("ci")
    with pytest.raises(TokenError):
        store.create("two\nlines")


DOCUMENT = {
    "recording_id": "r",
    "duration": 9.5,
    "language": "de",
    "segments": [
        {
            "start": 0.5,
            "end": 2.0,
            "text": " Guten Tag.",
            "speaker": "SPEAKER_01",
            "words": [
                {"word": "Guten", "start": 0.5, "end": 1.0, "score": 0.9},
                {"word": "Tag.", "start": 1.1, "end": 2.0, "score": 0.8},
            ],
        },
        {
            "start": 2.5,
            "end": 4.0,
            "text": " Hallo Ana.",
            "speaker": "Ana",
            "words": [{"word": "Hallo", "start": 2.5, "end": 3.0}],
        },
        {"start": 5.0, "end": 6.0, "text": " Ja.", "speaker": "SPEAKER_00", "words": []},
    ],
}


def test_whisper_result_is_whispers_shape():
    result = whisper_result(DOCUMENT, words=True, speakers=False)
    assert result["text"] == "Guten Tag. Hallo Ana. Ja." and result["language"] == "de"
    first = result["segments"][0]
    assert {
        "id",
        "seek",
        "start",
        "end",
        "text",
        "tokens",
        "temperature",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
        "words",
    } == set(first)
    assert first["words"][0] == {"word": "Guten", "start": 0.5, "end": 1.0, "probability": 0.9}
    assert "speaker" in whisper_result(DOCUMENT, words=False, speakers=True)["segments"][0]


def test_openai_shapes_name_languages_and_letter_unknown_speakers():
    verbose = openai_verbose(DOCUMENT, ["word"])
    assert verbose["language"] == "german" and "segments" not in verbose
    assert [w["word"] for w in verbose["words"]] == ["Guten", "Tag.", "Hallo"]
    diarized = openai_diarized(DOCUMENT, known=["Ana"])
    assert [s["speaker"] for s in diarized["segments"]] == ["A", "Ana", "B"]
    assert diarized["segments"][0] == {
        "type": "transcript.text.segment",
        "id": "seg_0",
        "start": 0.5,
        "end": 2.0,
        "text": "Guten Tag.",
        "speaker": "A",
    }
    assert speaker_letters([f"S{i}" for i in range(28)], [])["S27"] == "AB"
