import pytest

from whisper_pipeline.lib.analytics import UNATTRIBUTED, compute_stats, merge_intervals
from whisper_pipeline.lib.records import Segment, SpeakerTurn, Word


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
