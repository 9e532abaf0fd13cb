"""One writer per result: the segments, words, exports, speaker turns, voice vectors and
speaker statistics of a recording are written here and nowhere else, by the steps that make
them and by `speakers rename` alike, so a new column or export format is added once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from whisper_pipeline.core.analytics import RecordingStats, compute_stats
from whisper_pipeline.core.exports import SubtitleStyle, about_recording, write_exports
from whisper_pipeline.core.records import Diarization, Segment, SpeakerTurn, Transcript
from whisper_pipeline.storage.warehouse import (
    Warehouse,
    embedding_rows,
    segment_rows,
    turn_rows,
    word_rows,
)


def write_transcript_results(
    warehouse: Warehouse,
    outputs_dir: Path,
    recording_id: str,
    transcript: Transcript,
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    shown_name: str,
    style: SubtitleStyle,
) -> dict[str, Path]:
    """The segments and words rows and the export files (with speakers once there are turns);
    returns the export files by format."""
    warehouse.write("segments", recording_id, segment_rows(recording_id, segments))
    warehouse.write("words", recording_id, word_rows(recording_id, segments))
    return write_exports(
        outputs_dir,
        recording_id,
        transcript.language,
        segments,
        turns,
        about_recording(transcript, shown_name),
        style,
    )


def write_speaker_turns(warehouse: Warehouse, recording_id: str, diarization: Diarization) -> None:
    """The speaker turns and the speakers' voice vectors."""
    warehouse.write("speaker_turns", recording_id, turn_rows(recording_id, diarization))
    warehouse.write("speaker_embeddings", recording_id, embedding_rows(recording_id, diarization))


def write_speaker_stats(warehouse: Warehouse, recording_id: str, stats: RecordingStats) -> None:
    """Each speaker's talk time, share, turns and words."""
    warehouse.write(
        "speaker_stats",
        recording_id,
        [{"recording_id": recording_id, **asdict(row)} for row in stats.speakers],
    )


def write_speaker_results(
    warehouse: Warehouse,
    outputs_dir: Path,
    recording_id: str,
    transcript: Transcript,
    diarization: Diarization,
    segments: Sequence[Segment],
    shown_name: str,
    style: SubtitleStyle,
) -> tuple[dict[str, Path], RecordingStats]:
    """Everything that names speakers, at once (a rename): the same writers the steps use."""
    write_speaker_turns(warehouse, recording_id, diarization)
    files = write_transcript_results(
        warehouse,
        outputs_dir,
        recording_id,
        transcript,
        segments,
        diarization.turns,
        shown_name,
        style,
    )
    stats = compute_stats(transcript.duration_s, segments, diarization.turns)
    write_speaker_stats(warehouse, recording_id, stats)
    return files, stats
