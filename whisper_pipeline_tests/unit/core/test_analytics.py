import pytest

from whisper_pipeline.core.analytics import UNATTRIBUTED, compute_stats, merge_intervals
from whisper_pipeline.core.records import Segment, SpeakerTurn, Word


def test_merge_intervals_joins_overlaps_and_small_gaps():
    assert merge_intervals([(0, 1), (0.5, 2), (3, 4)]) == [(0, 2), (3, 4)]
    assert merge_intervals([(0, 1), (1.3, 2)], gap_s=0.5) == [(0, 2)]


def test_per_speaker_talk_time_words_pace_turns_and_overlap():
    turns = [
        SpeakerTurn(0.0, 10.0, "A"),
        SpeakerTurn(9.0, 20.0, "B"),
        SpeakerTurn(25.0, 30.0, "A"),
    ]
    words = tuple(Word(float(i), i + 0.5, "w", speaker="A") for i in range(5)) + tuple(
        Word(float(i), i + 0.5, "w", speaker="B") for i in range(10, 13)
    )
    stats = compute_stats(60.0, [Segment(0, 13, "...", words)], turns)
    by_speaker = {row.speaker: row for row in stats.speakers}
    assert by_speaker["A"].talk_time_s == pytest.approx(15.0)
    assert by_speaker["B"].talk_time_s == pytest.approx(11.0)
    assert by_speaker["A"].turns == 2 and by_speaker["B"].turns == 1
    assert by_speaker["A"].words == 5 and by_speaker["B"].words == 3
    assert by_speaker["A"].words_per_minute == pytest.approx(20.0)
    assert by_speaker["A"].overlap_s == pytest.approx(1.0)
    assert stats.overlap_s == pytest.approx(1.0)
    assert stats.speech_s == pytest.approx(25.0)
    assert stats.silence_ratio == pytest.approx(1 - 25 / 60, abs=1e-4)


def test_without_diarization_speech_comes_from_words_under_one_label():
    words = (Word(1.0, 2.0, "a"), Word(2.0, 3.0, "b"))
    stats = compute_stats(10.0, [Segment(1, 3, "a b", words)], [])
    (row,) = stats.speakers
    assert row.speaker == UNATTRIBUTED and row.words == 2 and row.talk_time_s == pytest.approx(2.0)
    assert stats.silence_ratio == pytest.approx(0.8)


def test_silence_is_all_when_nothing_was_said():
    stats = compute_stats(5.0, [], [])
    assert stats.speakers == () and stats.silence_ratio == 1.0


def test_speakers_and_days_are_counted_per_language(tmp_path):
    """A speaker's language is the one most of their speech is in; daily totals have a row per
    language, failures on the day's row without one."""
    from datetime import UTC, datetime

    from whisper_pipeline.core.analytics import compute_stats
    from whisper_pipeline.core.records import Segment, SpeakerTurn
    from whisper_pipeline.storage.summaries import daily_totals
    from whisper_pipeline.storage.warehouse import Warehouse

    segments = [
        Segment(0.0, 8.0, "Guten Morgen.", speaker="A", language="de"),
        Segment(8.0, 9.0, "Hola.", speaker="A", language="es"),
        Segment(9.0, 12.0, "Buenos días.", speaker="B", language="es"),
    ]
    turns = [SpeakerTurn(0.0, 9.0, "A"), SpeakerTurn(9.0, 12.0, "B")]
    stats = compute_stats(12.0, segments, turns)
    assert {row.speaker: row.language for row in stats.speakers} == {"A": "de", "B": "es"}

    warehouse = Warehouse(tmp_path)
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    for recording_id, language in (("r1", "de"), ("r2", "de"), ("r3", "es")):
        warehouse.write(
            "recording_files",
            recording_id,
            [{"recording_id": recording_id, "duration_s": 60.0, "registered_at": now}],
        )
        warehouse.write(
            "transcripts",
            recording_id,
            [
                {
                    "recording_id": recording_id,
                    "language": language,
                    "words": 10,
                    "transcribed_at": now,
                }
            ],
        )
    warehouse.write(
        "recording_files", "r4", [{"recording_id": "r4", "duration_s": 30.0, "registered_at": now}]
    )
    warehouse.add_failure(
        {"recording_id": "r4", "step": "transcribe", "run_id": "x", "failed_at": now}
    )
    with warehouse.query_connection() as con:
        rows = daily_totals(con)
    got = [(r["language"], r["recordings"], r["words"], r["failures"]) for r in rows]
    assert got == [(None, 1, 0, 1), ("de", 2, 20, 0), ("es", 1, 10, 0)]


def test_talk_shares_add_up_to_one_with_overlapping_speech():
    from whisper_pipeline.core.analytics import compute_stats
    from whisper_pipeline.core.records import SpeakerTurn

    turns = [SpeakerTurn(0.0, 6.0, "A"), SpeakerTurn(4.0, 10.0, "B"), SpeakerTurn(9.0, 12.0, "C")]
    stats = compute_stats(12.0, [], turns)
    assert abs(sum(row.talk_share for row in stats.speakers) - 1.0) < 1e-3
    assert {row.speaker: row.talk_share for row in stats.speakers} == {
        "A": 0.4,
        "B": 0.4,
        "C": 0.2,
    }
