"""Asset checks on every recording's results: red (ERROR) or yellow (WARN) in the UI's Checks
tab, and a row per check in the warehouse's `checks` view, so a wrong transcript never looks
green. The measures live in core/quality.py; docs/checks.md says what each one means."""

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    PreviewWarning,
    TableColumn,
    TableRecord,
    TableSchema,
)

from whisper_pipeline.core.analytics import RecordingStats
from whisper_pipeline.core.display import counted
from whisper_pipeline.core.progress import format_duration
from whisper_pipeline.core.quality import (
    repetition_loops,
    speakers_without_words,
    speech_without_words,
    totals_that_do_not_add_up,
)
from whisper_pipeline.core.records import Diarization, Segment, SpeakerTurn, Transcript
from whisper_pipeline.core.timeline import outside_the_audio
from whisper_pipeline.defs.partitions import recordings_partitions
from whisper_pipeline.defs.resources.storage import PipelineStorage

# Speech lost beyond this share of all speech makes the speaker statistics wrong: the check is
# then an ERROR, which (blocking) stops recording_analytics; below it, a WARN.
LOST_SPEECH_ERROR_SHARE = 0.2


def per_recording_check(name: str, asset: str, **kwargs: object) -> AssetCheckSpec:
    """A check evaluated per recording: each result belongs to its partition, so a recording's
    page shows its own checks (partitioned checks are a Dagster preview in 1.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(name, asset=asset, partitions_def=recordings_partitions, **kwargs)


NO_REPETITION_LOOPS = per_recording_check(
    "no_repetition_loops",
    "transcript",
    description="No phrase repeated in a loop (4+ times in a row) and no segment whose text"
    " compresses like one (Whisper's hallucination loops).",
)
DECODES_COMPLETELY = per_recording_check(
    "decodes_completely",
    "transcript",
    description="The audio decodes for as long as the file's header says (a truncated or"
    " half-copied file decodes less).",
)
SPEECH_HAS_WORDS = per_recording_check(
    "speech_has_words",
    "speaker_transcript",
    blocking=True,
    description="Every stretch of 3 s or more of detected speech has words. Blocking when more"
    " than 20% of the speech is lost: the speaker statistics would be wrong.",
)
SPEAKERS_HAVE_WORDS = per_recording_check(
    "speakers_have_words",
    "speaker_transcript",
    description="Every speaker who talks 3 s or more got words.",
)
TOTALS_ADD_UP = per_recording_check(
    "totals_add_up",
    "recording_analytics",
    description="Talk shares add up to 1, speakers' words to the transcript's, no speech"
    " longer than the audio, every turn, segment and word inside the audio (10 ms tolerance).",
)
SPEAKER_COUNT_WITHIN_LIMIT = per_recording_check(
    "speaker_count_within_limit",
    "diarization",
    description="The automatic speaker count did not stop at the most it looks for (10, or"
    " max_speakers): where it did, more people may speak than it found.",
)
CHECK_SPECS = (
    SPEAKER_COUNT_WITHIN_LIMIT,
    NO_REPETITION_LOOPS,
    DECODES_COMPLETELY,
    SPEECH_HAS_WORDS,
    SPEAKERS_HAVE_WORDS,
    TOTALS_ADD_UP,
)


def _result(
    spec: AssetCheckSpec,
    passed: bool,
    description: str,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    **metadata: object,
) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=spec.name,
        asset_key=spec.asset_key,
        passed=passed,
        severity=severity,
        description=description,
        metadata=metadata,
    )


def _listed(items: Sequence[str], limit: int = 10) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def transcript_checks(transcript: Transcript) -> list[AssetCheckResult]:
    loops = repetition_loops(transcript.segments)
    loop_result = _result(
        NO_REPETITION_LOOPS,
        not loops,
        f"{len(loops)} repetition loop(s): {_listed([loop.describe() for loop in loops])}"
        if loops
        else "no repetition loops",
        loops=MetadataValue.int(len(loops)),
    )
    if transcript.container_s is None:
        decoded = _result(
            DECODES_COMPLETELY,
            True,
            f"all {format_duration(transcript.duration_s)} decode",
            decoded_s=MetadataValue.float(float(transcript.duration_s)),
        )
    else:
        decoded = _result(
            DECODES_COMPLETELY,
            False,
            truncation_warning(transcript.duration_s, transcript.container_s),
            AssetCheckSeverity.WARN,  # what decodes is transcribed correctly
            decoded_s=MetadataValue.float(float(transcript.duration_s)),
            container_s=MetadataValue.float(float(transcript.container_s)),
        )
    return [loop_result, decoded]


def truncation_warning(decoded_s: float, container_s: float) -> str:
    return (
        f"truncated: only {decoded_s:.1f} s of {container_s:.1f} s decodable (the file is cut"
        " short or was still being copied); the rest is not transcribed"
    )


def diarization_checks(diarization: Diarization) -> list[AssetCheckResult]:
    if diarization.skipped:
        return [
            _result(
                SPEAKER_COUNT_WITHIN_LIMIT,
                True,
                f"not checked: {diarization.skipped_reason}",
                checked=False,
            )
        ]
    note = str(diarization.extra.get("speaker_count", "automatic"))
    at_ceiling = bool(diarization.extra.get("count_at_ceiling"))
    return [
        _result(
            SPEAKER_COUNT_WITHIN_LIMIT,
            not at_ceiling,
            note if at_ceiling else f"{counted(len(diarization.speakers), 'speaker')} ({note})",
            AssetCheckSeverity.WARN,  # the turns are right for the speakers found
            speakers=MetadataValue.int(len(diarization.speakers)),
        )
    ]


def speaker_transcript_checks(
    diarization: Diarization, segments: Sequence[Segment]
) -> list[AssetCheckResult]:
    if diarization.skipped or not diarization.turns:
        reason = diarization.skipped_reason or "no speech detected"
        return [
            _result(spec, True, f"not checked: no speaker turns ({reason})", checked=False)
            for spec in (SPEECH_HAS_WORDS, SPEAKERS_HAVE_WORDS)
        ]
    words = [word for segment in segments for word in segment.words]
    lost = speech_without_words(diarization.turns, words)
    lost_s = sum(stretch.duration_s for stretch in lost)
    speech_s = sum(turn.duration_s for turn in diarization.turns) or 1.0
    share = min(lost_s / speech_s, 1.0)
    coverage = _result(
        SPEECH_HAS_WORDS,
        not lost,
        f"{lost_s:.1f} s of speech ({share:.0%}) has no words:"
        f" {_listed([s.describe() for s in lost])}"
        if lost
        else "every stretch of speech has words",
        AssetCheckSeverity.ERROR if share > LOST_SPEECH_ERROR_SHARE else AssetCheckSeverity.WARN,
        lost_speech_s=MetadataValue.float(float(round(lost_s, 2))),
        lost_stretches=MetadataValue.int(len(lost)),
    )
    silent = speakers_without_words(diarization.turns, segments)
    speakers = _result(
        SPEAKERS_HAVE_WORDS,
        not silent,
        "no words for "
        + ", ".join(f"{speaker} ({seconds:.1f} s of talk)" for speaker, seconds in silent.items())
        if silent
        else "every speaker has words",
        speakers_without_words=MetadataValue.int(len(silent)),
    )
    return [coverage, speakers]


def analytics_checks(
    stats: RecordingStats, segments: Sequence[Segment], turns: Sequence[SpeakerTurn]
) -> list[AssetCheckResult]:
    problems = totals_that_do_not_add_up(stats, segments) + outside_the_audio(
        stats.duration_s, turns, segments
    )
    return [
        _result(
            TOTALS_ADD_UP,
            not problems,
            "; ".join(problems) if problems else "talk shares, words and durations add up",
            problems=MetadataValue.int(len(problems)),
        )
    ]


CHECKS_TABLE = TableSchema(
    columns=[
        TableColumn("check", "string", "the check's name (docs/checks.md)"),
        TableColumn(
            "result", "string", "passed, or failed as an error (red) or a warning (yellow)"
        ),
        TableColumn("says", "string", "what it found"),
    ]
)


def checks_view(results: Sequence[AssetCheckResult]) -> MetadataValue:
    """The recording's check results as a table on its partition page (the Checks tab shows
    them per check; this shows them per recording)."""
    rows = [
        TableRecord(
            {
                "check": result.check_name or "",
                "result": "passed"
                if result.passed
                else ("WARNING" if result.severity == AssetCheckSeverity.WARN else "ERROR"),
                "says": result.description or "",
            }
        )
        for result in results
    ]
    return MetadataValue.table(records=rows, schema=CHECKS_TABLE)


def record_checks(
    storage: PipelineStorage,
    recording_id: str,
    asset: str,
    results: Sequence[AssetCheckResult],
    run_id: str,
) -> None:
    """The asset's check results as rows of the warehouse's `checks` table (replacing the last)."""
    checked_at = datetime.now(UTC)
    storage.warehouse.write(
        "checks",
        f"{recording_id}__{asset}",
        [
            {
                "recording_id": recording_id,
                "asset": asset,
                "check_name": result.check_name,
                "passed": result.passed,
                "severity": result.severity.value,
                "description": result.description,
                "checked_at": checked_at,
                "run_id": run_id,
            }
            for result in results
        ],
    )
