"""Step 4: the transcript with a speaker per word and segment, and its export files."""

from collections.abc import Mapping, Sequence
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.core.previews import image_markdown, speaker_timeline_png, transcript_markdown
from whisper_pipeline.core.records import Diarization, Segment, SpeakerTurn, Transcript
from whisper_pipeline.core.speakers import assign_speakers
from whisper_pipeline.defs.assets.checks import (
    SPEAKERS_HAVE_WORDS,
    SPEECH_HAS_WORDS,
    record_checks,
    speaker_transcript_checks,
)
from whisper_pipeline.defs.assets.step import (
    PER_RECORDING,
    hand_on,
    handed_on,
    recording_step,
    run_id_of,
)
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
from whisper_pipeline.storage.results import write_transcript_results


def transcript_view(
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    duration_s: float,
    exports: Mapping[str, Path],
    storage: PipelineStorage,
) -> dict[str, object]:
    """The partition page's view of a transcript: the text with speakers and times, a speaker
    timeline, and the export files (also after a speaker is renamed)."""
    metadata: dict[str, object] = {
        "transcript": MetadataValue.md(transcript_markdown(segments, duration_s, exports)),
    }
    if turns:
        png = speaker_timeline_png(turns, duration_s)
        metadata["speaker_timeline"] = MetadataValue.md(image_markdown(png, "speaker timeline"))
    metadata["speakers"] = ", ".join(sorted({s.speaker for s in segments if s.speaker})) or "none"
    metadata["segments"] = MetadataValue.int(len(segments))
    metadata.update({f"export_{kind}": storage.export_link(path) for kind, path in exports.items()})
    return metadata


@asset(
    **PER_RECORDING,
    dagster_type=handed_on(list),
    kinds={"parquet"},
    check_specs=[SPEECH_HAS_WORDS, SPEAKERS_HAVE_WORDS],
    description="Speaker per word (largest overlap) and per segment; SRT, VTT, TXT, JSON and RTTM exports.",
)
def speaker_transcript(
    context: AssetExecutionContext,
    transcript: Transcript,
    diarization: Diarization,
    storage: PipelineStorage,
    subtitles: SubtitleSettings,
) -> MaterializeResult:
    with recording_step(context, storage, "speaker_transcript") as step:
        segments = assign_speakers(
            transcript.segments,
            diarization.turns,
            channel_speakers=diarization.extra.get("channel_speakers") or (),
        )
        exports = write_transcript_results(
            storage.warehouse,
            storage.outputs_for(step.recording_id),
            step.recording_id,
            transcript,
            segments,
            diarization.turns,
            storage.shown_name(step.recording_id),
            subtitles.style(),
        )
        metadata = transcript_view(
            segments, diarization.turns, transcript.duration_s, exports, storage
        )
        if diarization.skipped:
            metadata["note"] = "no speakers: diarization was skipped"
        checks = speaker_transcript_checks(diarization, segments)
        record_checks(storage, step.recording_id, "speaker_transcript", checks, run_id_of(context))
        return hand_on(context, storage, segments, metadata, checks)
