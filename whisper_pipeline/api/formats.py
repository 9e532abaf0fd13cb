"""The response bodies of the two APIs clients already speak, built from a recording's JSON
export (core/exports.to_json: WhisperX's shape plus duration): whisper's result dictionary
(whisper-asr-webservice's `output=json`), and OpenAI's `json`, `text`, `verbose_json` and
`diarized_json`."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from whisperx.utils import LANGUAGES


def language_name(code: str | None) -> str:
    """`en` -> `english`, as Whisper and OpenAI name languages (the code when unknown)."""
    return LANGUAGES.get(code or "", code or "unknown")


def full_text(document: Mapping[str, Any]) -> str:
    return " ".join(
        segment["text"].strip() for segment in document["segments"] if segment["text"].strip()
    )


def plain_lines(document: Mapping[str, Any]) -> str:
    """One segment per line, no speakers: whisper's TXT."""
    lines = [s["text"].strip() for s in document["segments"] if s["text"].strip()]
    return "\n".join(lines) + ("\n" if lines else "")


def _words(segment: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "word": word["word"],
            "start": word["start"],
            "end": word["end"],
            "probability": word.get("score"),
        }
        for word in segment.get("words", [])
    ]


def _whisper_segment(index: int, segment: Mapping[str, Any], words: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": index,
        "seek": 0,
        "start": segment["start"],
        "end": segment["end"],
        "text": segment["text"],
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": segment.get("avg_logprob", 0.0),
        "compression_ratio": 0.0,
        "no_speech_prob": 0.0,
    }
    if words:
        entry["words"] = _words(segment)
    if segment.get("speaker"):
        entry["speaker"] = segment["speaker"]
    return entry


def whisper_result(document: Mapping[str, Any], words: bool, speakers: bool) -> dict[str, Any]:
    """Whisper's `transcribe()` result (whisper-asr-webservice's JSON): `text`, `segments`
    (`id`, `seek`, `start`, `end`, `text`, `tokens`, `temperature`, `avg_logprob`,
    `compression_ratio`, `no_speech_prob`, and `words` when asked), `language`. The fields
    whisper derives from its tokens and which the pipeline does not keep are 0 or empty."""
    segments = [
        _whisper_segment(index, segment, words)
        for index, segment in enumerate(document["segments"])
    ]
    if not speakers:
        for segment in segments:
            segment.pop("speaker", None)
    return {"text": full_text(document), "segments": segments, "language": document["language"]}


def openai_verbose(document: Mapping[str, Any], granularities: Sequence[str]) -> dict[str, Any]:
    """OpenAI's `verbose_json`: segments unless only words were asked for, words when asked."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language_name(document["language"]),
        "duration": document.get("duration") or 0.0,
        "text": full_text(document),
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {k: v for k, v in _whisper_segment(i, s, False).items() if k != "speaker"}
            for i, s in enumerate(document["segments"])
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w["word"], "start": w["start"], "end": w["end"]}
            for segment in document["segments"]
            for w in segment.get("words", [])
        ]
    body["usage"] = {"type": "duration", "seconds": round(body["duration"])}
    return body


def speaker_letters(labels: Sequence[str], known: Sequence[str]) -> dict[str, str]:
    """OpenAI's speaker labels: a known speaker's name as given; the others `A`, `B`, ... in
    order of first appearance."""
    letters = iter(_letter_names())
    mapping: dict[str, str] = {}
    for speaker in labels:
        if speaker not in mapping:
            mapping[speaker] = speaker if speaker in known else next(letters)
    return mapping


def _letter_names():
    for size in range(1, 4):
        for index in range(len(string.ascii_uppercase) ** size):
            name, value = "", index
            for _ in range(size):
                value, digit = divmod(value, 26)
                name = string.ascii_uppercase[digit] + name
            yield name


def openai_diarized(document: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    """OpenAI's `diarized_json`: segments with `speaker` (the names of `known_speaker_names[]`
    where the voices matched), `start`, `end`, `text`, `id`, `type`."""
    order = [s.get("speaker") or "unknown" for s in document["segments"]]
    names = speaker_letters(order, known)
    return {
        "task": "transcribe",
        "duration": document.get("duration") or 0.0,
        "text": full_text(document),
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": segment["start"],
                "end": segment["end"],
                "text": segment["text"].strip(),
                "speaker": names[order[index]],
            }
            for index, segment in enumerate(document["segments"])
        ],
        "usage": {"type": "duration", "seconds": round(document.get("duration") or 0.0)},
    }
