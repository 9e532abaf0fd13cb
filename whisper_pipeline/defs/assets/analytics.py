"""Step 5: per-speaker talk time, words, pace, turns, overlap; the recording's silence ratio."""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from whisper_pipeline.core.analytics import RecordingStats, compute_stats
from whisper_pipeline.core.display import clock, percent
from whisper_pipeline.core.records import Diarization, Segment, Transcript
from whisper_pipeline.defs.assets.checks import TOTALS_ADD_UP, analytics_checks, record_checks
from whisper_pipeline.defs.assets.step import (
    PER_RECORDING,
    hand_on,
    handed_on,
    recording_step,
    run_id_of,
)
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.storage.results import write_speaker_stats

# The per-speaker table on the partition page: the columns of the speaker_stats view.
# (The view shows m:ss and %; the speaker_stats view keeps the raw seconds and shares.)
SPEAKER_TABLE = TableSchema(
    columns=[
        TableColumn("speaker", "string", "label (SPEAKER_00) or the name given"),
        TableColumn("talk_time", "string", "how long this speaker speaks (m:ss)"),
        TableColumn("talk_share", "string", "share of everyone's talk time (adds up to 100 %)"),
        TableColumn("words", "int", "words attributed to this speaker"),
        TableColumn("words_per_minute", "int", "words per minute of talk time"),
        TableColumn("turns", "int", "stretches of speech (pauses under 0.5 s do not end one)"),
        TableColumn("overlap", "string", "time spoken while someone else speaks (m:ss)"),
        TableColumn("language", "string", "the language most of the speaker's segments are in"),
    ]
)


def analytics_view(stats: RecordingStats) -> dict[str, object]:
    """The partition page's view of a recording's analytics (also after a speaker is renamed)."""
    rows = [
        TableRecord(
            {
                "speaker": row.speaker,
                "talk_time": clock(row.talk_time_s),
                "talk_share": percent(row.talk_share),
                "words": int(row.words),
                "words_per_minute": int(round(row.words_per_minute or 0)),
                "turns": int(row.turns),
                "overlap": clock(row.overlap_s),
                "language": row.language or "unknown",
            }
        )
        for row in stats.speakers
    ]
    return {
        "speech": clock(stats.speech_s),
        "silence": percent(stats.silence_ratio),
        "overlap": clock(stats.overlap_s),
        "speakers": MetadataValue.table(records=rows, schema=SPEAKER_TABLE) if rows else "none",
    }


@asset(
    **PER_RECORDING,
    dagster_type=handed_on(RecordingStats),
    kinds={"duckdb", "parquet"},
    check_specs=[TOTALS_ADD_UP],
    description="Per-speaker analytics in the warehouse's speaker_stats view; silence ratio in recordings.",
)
def recording_analytics(
    context: AssetExecutionContext,
    transcript: Transcript,
    diarization: Diarization,
    speaker_transcript: list[Segment],
    storage: PipelineStorage,
) -> MaterializeResult:
    with recording_step(context, storage, "recording_analytics") as step:
        stats = compute_stats(transcript.duration_s, speaker_transcript, diarization.turns)
        warehouse = storage.warehouse
        write_speaker_stats(warehouse, step.recording_id, stats)
        warehouse.write(
            "recording_stats",
            step.recording_id,
            [
                {
                    "recording_id": step.recording_id,
                    "speakers": len(diarization.speakers),
                    "speech_s": stats.speech_s,
                    "silence_ratio": stats.silence_ratio,
                    "overlap_s": stats.overlap_s,
                    "diarization_backend": diarization.backend,
                    "diarization_skipped_reason": diarization.skipped_reason,
                    "analyzed_at": datetime.now(UTC),
                    "run_id": run_id_of(context),
                }
            ],
        )
        checks = analytics_checks(stats, speaker_transcript, diarization.turns)
        record_checks(storage, step.recording_id, "recording_analytics", checks, run_id_of(context))
        warehouse.refresh_database()
        return hand_on(
            context,
            storage,
            stats,
            analytics_view(stats),
            checks,
        )
