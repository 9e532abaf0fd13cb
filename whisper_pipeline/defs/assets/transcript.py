"""Step 2: what was said, with word timestamps (whisperx: VAD, batched ASR, alignment)."""

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.adapters.whisperx_internals import is_multilingual
from whisper_pipeline.core.display import clock, percent
from whisper_pipeline.core.exports import SubtitleStyle
from whisper_pipeline.core.quality import truncated_by
from whisper_pipeline.core.records import RecordingFacts, Segment, Transcript
from whisper_pipeline.core.timeline import clip_segments
from whisper_pipeline.defs.assets.checks import (
    DECODES_COMPLETELY,
    NO_REPETITION_LOOPS,
    record_checks,
    transcript_checks,
    truncation_warning,
)
from whisper_pipeline.defs.assets.step import (
    PER_RECORDING,
    hand_on,
    handed_on,
    recording_step,
    run_id_of,
    source_file,
)
from whisper_pipeline.defs.resources.alignment import WordAlignment
from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
from whisper_pipeline.inference.audio import CountedWindows, iter_windows
from whisper_pipeline.inference.channels import PER_CHANNEL, gated
from whisper_pipeline.inference.cpu_share import governor
from whisper_pipeline.inference.language import (
    english_only_warning,
    looks_like_wrong_language,
    summarize,
)
from whisper_pipeline.inference.transcription import transcribe_windows
from whisper_pipeline.storage.results import write_transcript_results


@dataclass
class Transcribed:
    """What the passes through the audio found, before it becomes a Transcript."""

    segments: list[Segment] = field(default_factory=list)
    probabilities: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    redecoded: int = 0
    recovered: int = 0
    non_speech: int = 0
    decoded_s: float = 0.0  # of the first pass: less than the duration when the file is cut
    seconds: float = 0.0  # the passes' own time
    english_only: bool = False


@asset(
    **PER_RECORDING,
    dagster_type=handed_on(Transcript),
    kinds={"whisperx"},
    pool="gpu",
    check_specs=[NO_REPETITION_LOOPS, DECODES_COMPLETELY],
    description="Segments and words with timestamps, language; written to the warehouse and exported without speakers.",
)
def transcript(
    context: AssetExecutionContext,
    recording_metadata: RecordingFacts,
    storage: PipelineStorage,
    asr: WhisperASR,
    alignment: WordAlignment,
    subtitles: SubtitleSettings,
) -> MaterializeResult:
    facts = recording_metadata
    with recording_step(context, storage, "transcribe", facts.duration_s) as step:
        step.model, step.device = asr.model_label(), asr.resolved_device()
        path = source_file(storage, facts)
        with (
            asr.borrow() as whisper,
            alignment.borrow_if_configured() as (aligner, alignment_problem),
        ):
            if alignment_problem:
                context.log.warning("%s; using Whisper's own word timestamps", alignment_problem)
            found = _transcribe(asr, whisper.model, aligner, facts, path, step.progress.update)
        summary = summarize(found.segments, found.probabilities)
        # a truncated file: what decodes is the recording (its duration for RTF and silence)
        truncated = truncated_by(facts.duration_s, found.decoded_s) > 0
        duration_s = found.decoded_s if truncated else facts.duration_s
        if truncated:
            context.log.warning(truncation_warning(found.decoded_s, facts.duration_s))
        note = _english_only_check(asr, path, found.segments) if found.english_only else None
        if note:
            context.log.warning(note)
        result = Transcript(
            language=asr.language or summary.language,
            duration_s=duration_s,
            segments=clip_segments(found.segments, duration_s),
            model=asr.model_label(),
            device=asr.resolved_device(),
            word_timestamps=f"alignment:{alignment.model}" if aligner else "whisper",
            transcribe_seconds=round(found.seconds, 3),
            language_probability=summary.probability,
            languages=summary.languages,
            language_note=note,
            container_s=facts.duration_s if truncated else None,
        )
        _store(context, storage, result, subtitles.style())
        checks = transcript_checks(result)
        record_checks(storage, step.recording_id, "transcript", checks, run_id_of(context))
        if not result.segments:
            context.log.info("%s: no speech detected", facts.recording_id)
        metadata = {
            **_view(result, found),
            "cpu_threads": f"ctranslate2 {asr.resolved_threads()}, torch {governor().describe()}",
            "model_cache": "hit"
            if whisper.cache_hit
            else f"miss (loaded in {whisper.load_seconds:.1f}s)",
        }
        return hand_on(context, storage, result, metadata, checks)


def _transcribe(
    asr: WhisperASR,
    model: object,
    aligner: object,
    facts: RecordingFacts,
    path: Path,
    on_progress: Callable[[float, int], None],
) -> Transcribed:
    """The recording's speech, window by window; a call recorded one voice per channel is
    transcribed channel by channel: speech over speech stays two clear streams instead of
    one garbled mix."""
    found = Transcribed(english_only=asr.language is None and not is_multilingual(model))
    started = time.monotonic()
    channels = (0, 1) if facts.channel_layout == PER_CHANNEL else (None,)
    for index, channel in enumerate(channels):
        decoded = CountedWindows(iter_windows(path, asr.windows_of(model), channel=channel))
        for window in transcribe_windows(
            model,
            decoded if channel is None else gated(decoded, facts.channel_voices[channel]),
            facts.duration_s,
            asr.language,
            asr.batch_size,
            aligner,
            keep_non_speech=asr.keep_non_speech,
            on_progress=_share_of(
                on_progress, index, len(channels), facts.duration_s, len(found.segments)
            ),
        ):
            if window.probability is not None:
                found.probabilities[window.language].append(window.probability)
            found.segments.extend(replace(s, channel=channel) for s in window.segments)
            found.redecoded += window.redecoded
            found.recovered += window.recovered
            found.non_speech += window.non_speech
        if index == 0:
            found.decoded_s = decoded.seconds
    found.segments.sort(key=lambda segment: (segment.start_s, segment.end_s))
    found.seconds = time.monotonic() - started
    return found


def _view(result: Transcript, found: Transcribed) -> dict[str, object]:
    """The partition page's view of a transcript step."""
    seconds, duration_s = found.seconds, result.duration_s
    rtf = seconds / duration_s if duration_s else 0.0
    metadata: dict[str, object] = {
        "language": result.language,
        "language_probability": percent(result.language_probability, 0)
        if result.language_probability is not None
        else "not detected (set or English-only model)",
        "duration": clock(duration_s),
        "segments": MetadataValue.int(len(result.segments)),
        "words": MetadataValue.int(len(result.words)),
        "model": result.model,
        "device": result.device,
        "word_timestamps": result.word_timestamps,
        "transcribe_time": clock(seconds) if seconds >= 60 else f"{seconds:.1f} s",
        # seconds of work per second of audio (under 1: faster than real time)
        "realtime_factor": MetadataValue.float(float(round(rtf, 3))),
        "preview": MetadataValue.md(result.text[:500] or "_no speech detected_"),
    }
    counts = {
        "loops_redecoded": found.redecoded,
        "speech_recovered": found.recovered,
        "non_speech_dropped": found.non_speech,
    }
    metadata.update({name: MetadataValue.int(n) for name, n in counts.items() if n})
    if result.languages:
        metadata["languages"] = result.languages
    if result.language_note:
        metadata["warning"] = result.language_note
    if result.container_s is not None:
        metadata["truncated"] = truncation_warning(duration_s, result.container_s)
    if not result.segments:
        metadata["note"] = "no speech detected"
    return metadata


def _english_only_check(asr: WhisperASR, path: Path, segments: list[Segment]) -> str | None:
    """For an English-only model whose transcript looks wrong: is the speech another language?
    (The bundled multilingual model listens to the first minute.)"""
    if not segments or not looks_like_wrong_language(segments):
        return None
    first = next(iter_windows(path, 60.0), None)
    if first is None:
        return None
    return english_only_warning(asr.model_label(), asr.identify_language(first.samples))


def _store(
    context: AssetExecutionContext,
    storage: PipelineStorage,
    result: Transcript,
    style: SubtitleStyle,
) -> None:
    """Rows and exports without speakers, so a transcript survives a failed diarization."""
    recording_id = context.partition_key
    warehouse = storage.warehouse
    warehouse.write(
        "transcripts",
        recording_id,
        [
            {
                "recording_id": recording_id,
                "language": result.language,
                "language_probability": result.language_probability,
                "languages": result.languages or None,
                "language_note": result.language_note,
                "model": result.model,
                "device": result.device,
                "word_timestamps": result.word_timestamps,
                "segments": len(result.segments),
                "words": len(result.words),
                "transcribe_s": result.transcribe_seconds,
                "realtime_factor": round(result.transcribe_seconds / result.duration_s, 4)
                if result.duration_s
                else None,
                "no_speech": not result.segments,
                "transcribed_at": datetime.now(UTC),
                "run_id": run_id_of(context),
            }
        ],
    )
    write_transcript_results(
        warehouse,
        storage.outputs_for(recording_id),
        recording_id,
        result,
        result.segments,
        (),
        storage.shown_name(recording_id),
        style,
    )


def _share_of(
    update: Callable[[float, int], None], index: int, parts: int, duration_s: float, before: int
) -> Callable[[float, int], None]:
    """Progress of pass `index` of `parts` through the audio (channel by channel) as progress
    through the whole step, counting the `before` segments of the passes before."""
    if parts == 1:
        return update

    def report(position_s: float, segments: int) -> None:
        update((index * duration_s + position_s) / parts, before + segments)

    return report
