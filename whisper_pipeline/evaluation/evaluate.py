"""`whisper-pipeline evaluate DIR`: score the configured diarizer (and, where reference
transcripts exist, the configured ASR) on a folder of recordings with RTTM references."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from whisper_pipeline.core.scoring import (
    FileResult,
    read_reference_text,
    read_rttm,
    score_diarization,
    summarize,
    word_error_rate,
)
from whisper_pipeline.core.speaker_count import SpeakerCounts
from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
from whisper_pipeline.inference.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_audio, probe


def recordings_with_references(folder: Path) -> Iterator[tuple[Path, Path | None, Path | None]]:
    """(audio, RTTM or None, STM/TXT transcript or None) for each recording in `folder`."""
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in AUDIO_EXTENSIONS or path.name.startswith("."):
            continue
        rttm = path.with_suffix(".rttm")
        text = next(
            (c for c in (path.with_suffix(".stm"), path.with_suffix(".txt")) if c.exists()), None
        )
        yield path, rttm if rttm.exists() else None, text


def transcribe_text(asr: WhisperASR, path: Path) -> tuple[str, float]:
    """The recording's words as the pipeline's transcribe step finds them, and the seconds."""
    from whisper_pipeline.inference.audio import iter_windows
    from whisper_pipeline.inference.transcription import transcribe_windows

    duration_s = probe(path).duration_s
    started = time.monotonic()
    words: list[str] = []
    with asr.borrow() as whisper:
        for window in transcribe_windows(
            whisper.model,
            iter_windows(path, asr.windows_of(whisper.model)),
            duration_s,
            asr.language,
            asr.batch_size,
        ):
            words.extend(segment.text for segment in window.segments)
    return " ".join(words), time.monotonic() - started


def evaluate_folder(
    folder: Path,
    diarizer: SpeakerDiarizer,
    asr: WhisperASR | None = None,
    counts: SpeakerCounts | None = None,
    collar_s: float = 0.25,
    on_file: Callable[[FileResult], None] | None = None,
    reference_count: bool = False,
) -> list[FileResult]:
    """One FileResult per recording of `folder` (DER/JER where an RTTM exists, WER where a
    transcript exists and `asr` is given); the diarizer loads once for the whole folder.
    `reference_count` tells the diarizer each recording's number of reference speakers, which
    separates the errors of the automatic count from those of the split into speakers."""
    results: list[FileResult] = []
    with diarizer.borrow() as loaded:
        for path, rttm, text in recordings_with_references(folder):
            reference = read_rttm(rttm) if rttm is not None else None
            file_counts = counts
            if reference_count and reference:
                file_counts = SpeakerCounts(num_speakers=len({t.speaker for t in reference}))
            audio = load_audio(path)
            audio_s = len(audio) / SAMPLE_RATE
            started = time.monotonic()
            found = diarizer.diarize(loaded.model, audio, file_counts)
            seconds = time.monotonic() - started
            row: dict[str, object] = {
                "file": path.name,
                "audio_s": round(audio_s, 2),
                "diarize_s": round(seconds, 2),
                "realtime_factor": round(audio_s / seconds, 1) if seconds else 0.0,
            }
            if reference is not None:
                score = score_diarization(reference, found.turns, collar_s)
                row.update(
                    der=score.der,
                    jer=score.jer,
                    missed_s=score.missed_s,
                    false_alarm_s=score.false_alarm_s,
                    confusion_s=score.confusion_s,
                    reference_speech_s=score.reference_speech_s,
                    reference_speakers=score.reference_speakers,
                    found_speakers=score.found_speakers,
                    count_error=score.count_error,
                )
            else:
                row["found_speakers"] = len(found.speakers)
            if text is not None and asr is not None:
                hypothesis, transcribe_s = transcribe_text(asr, path)
                row["wer"] = word_error_rate(read_reference_text(text), hypothesis)
                row["transcribe_s"] = round(transcribe_s, 2)
            result = FileResult(**row)
            results.append(result)
            if on_file is not None:
                on_file(result)
    return results


COLUMNS = (
    ("file", "{}"),
    ("audio_s", "{:.1f}"),
    ("der", "{:.3f}"),
    ("jer", "{:.3f}"),
    ("reference_speakers", "{}"),
    ("found_speakers", "{}"),
    ("wer", "{:.3f}"),
    ("realtime_factor", "{:.1f}"),
)


def table_line(result: FileResult) -> str:
    values = result.as_dict()
    cells = ["-" if values[name] is None else fmt.format(values[name]) for name, fmt in COLUMNS]
    return f"{cells[0]:<36} " + " ".join(f"{cell:>8}" for cell in cells[1:])


def table_header() -> str:
    names = ["file", "audio_s", "DER", "JER", "ref_spk", "found", "WER", "xRT"]
    return f"{names[0]:<36} " + " ".join(f"{name:>8}" for name in names[1:])


def write_report(path: Path, results: list[FileResult], settings: dict[str, object]) -> None:
    report = {
        "summary": summarize(results),
        "settings": settings,
        "files": [result.as_dict() for result in results],
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
