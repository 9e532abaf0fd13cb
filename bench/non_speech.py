"""Words invented from non-speech, with and without dropping chunks that sound like it
(core/quality.sounds_like_non_speech), and the word error rate on real and synthetic speech
measured in the same run with the same loaded model.

- non-speech: the held-out set of samples.NON_SPEECH (tones, beeps, clicks, hum, music made
  with sox, noise, silence of several lengths): words written, per file;
- speech: pyannote's real two-speaker call (its reference transcript), the synthetic budget
  meeting (espeak-ng voices) and short espeak-ng answers, whose no-speech probability is the
  highest of real speech: word error rate of all of them together and per file.

    .venv/bin/python -m bench.non_speech
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from whisper_pipeline.core.scoring import read_reference_text, word_error_rate
from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.evaluation.samples import (
    DEMO_CONVERSATION,
    VOICES,
    pyannote_sample_dir,
    speak,
    synthesize_conversation,
    write_non_speech_set,
)
from whisper_pipeline.inference.audio import iter_windows
from whisper_pipeline.inference.transcription import transcribe_windows

SHORT_ANSWERS = ("Yes.", "No.", "Okay, thanks.", "Sure, go ahead.", "Right.")


def speech_set(folder: Path) -> dict[Path, str]:
    """Recordings with their reference text."""
    call = pyannote_sample_dir() / "sample.wav"
    meeting = folder / "budget meeting.wav"
    synthesize_conversation(DEMO_CONVERSATION, meeting)
    references = {
        call: read_reference_text(pyannote_sample_dir() / "sample.stm"),
        meeting: " ".join(text for _voice, text in DEMO_CONVERSATION),
    }
    for index, text in enumerate(SHORT_ANSWERS):
        voice = list(VOICES.values())[index % len(VOICES)]
        path = folder / f"answer {index}.wav"
        speak(voice, text, path)
        references[path] = text
    return references


def transcribe(model, path: Path, keep_non_speech: bool) -> str:
    return " ".join(
        segment.text.strip()
        for window in transcribe_windows(
            model, iter_windows(path, 120.0), 1e9, None, 8, keep_non_speech=keep_non_speech
        )
        for segment in window.segments
    )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-non-speech-"))
    non_speech = write_non_speech_set(folder / "non-speech")
    references = speech_set(folder)
    asr = WhisperASR()
    model = asr.load_model()
    report: dict[str, dict] = {}
    for label, keep in (("before (kept)", True), ("after (dropped)", False)):
        invented = {path.stem: transcribe(model, path, keep) for path in non_speech}
        found = {path: transcribe(model, path, keep) for path in references}
        all_reference = " ".join(references[path] for path in references)
        all_found = " ".join(found[path] for path in references)
        report[label] = {
            "non_speech_words": sum(len(text.split()) for text in invented.values()),
            "non_speech_files_with_words": {k: v for k, v in invented.items() if v},
            "speech_wer": round(word_error_rate(all_reference, all_found), 4),
            "speech_wer_per_file": {
                path.stem: round(word_error_rate(references[path], found[path]), 4)
                for path in references
            },
        }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    before, after = report["before (kept)"], report["after (dropped)"]
    print(
        f"\nnon-speech words: {before['non_speech_words']} -> {after['non_speech_words']};"
        f" speech WER: {before['speech_wer']:.4f} -> {after['speech_wer']:.4f}"
        f" (ratio {after['speech_wer'] / before['speech_wer']:.3f})"
    )


if __name__ == "__main__":
    main()
