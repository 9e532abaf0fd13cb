"""The measures behind the asset checks, on crafted transcripts: each is red on the fault it
looks for and green on a sound transcript."""

from whisper_pipeline.core.analytics import compute_stats
from whisper_pipeline.core.quality import (
    compression_ratio,
    repetition_loops,
    speakers_without_words,
    speech_without_words,
    totals_that_do_not_add_up,
    truncated_by,
)
from whisper_pipeline.core.records import Segment, SpeakerTurn, Word


def spoken(text: str, start_s: float, speaker: str, pace_s: float = 0.4) -> Segment:
    words = tuple(
        Word(start_s + i * pace_s, start_s + (i + 1) * pace_s - 0.05, w, 0.9, speaker)
        for i, w in enumerate(text.split())
    )
    return Segment(start_s, words[-1].end_s, text, words, speaker)


SENTENCE = "we should move the budget review to next thursday after lunch"
TURNS = (
    SpeakerTurn(0.0, 10.0, "SPEAKER_00"),
    SpeakerTurn(10.0, 20.0, "SPEAKER_01"),
    SpeakerTurn(20.0, 30.0, "SPEAKER_00"),
)


def sound_transcript() -> list[Segment]:
    return [
        spoken(f"{SENTENCE} {SENTENCE}", turn.start_s, turn.speaker, pace_s=0.42) for turn in TURNS
    ]


def all_words(segments):
    return [w for s in segments for w in s.words]


def test_speech_with_words_everywhere_loses_nothing():
    assert speech_without_words(TURNS, all_words(sound_transcript())) == []


def test_speech_whose_words_stop_is_found_stretch_by_stretch():
    """The meeting whose words stop at 32.5 s: the rest of the speech is reported as lost."""
    segments = sound_transcript()[:2]  # nothing transcribed after 20 s
    segments[1] = spoken(SENTENCE, 10.0, "SPEAKER_01")  # and only half of the second turn
    lost = speech_without_words(TURNS, all_words(segments))
    assert [(round(s.start_s, 1), round(s.end_s, 1)) for s in lost] == [(15.3, 30.0)]


def test_a_short_pause_in_words_is_not_lost_speech():
    segments = [spoken(SENTENCE, 0.0, "SPEAKER_00"), spoken(SENTENCE, 7.0, "SPEAKER_00")]
    assert speech_without_words([SpeakerTurn(0.0, 11.5, "SPEAKER_00")], all_words(segments)) == []


def test_a_speaker_who_talks_but_gets_no_word_is_named():
    segments = [s for s in sound_transcript() if s.speaker == "SPEAKER_00"]
    assert speakers_without_words(TURNS, segments) == {"SPEAKER_01": 10.0}
    assert speakers_without_words(TURNS, sound_transcript()) == {}


def test_a_hallucination_loop_is_found_across_segments():
    loop = "The board meets the board. " * 30
    segments = [
        spoken(SENTENCE, 0.0, "SPEAKER_00"),
        spoken(loop[: len(loop) // 2], 5.0, "SPEAKER_00", pace_s=0.2),
        spoken(loop[len(loop) // 2 :], 35.0, "SPEAKER_00", pace_s=0.2),
    ]
    (found,) = repetition_loops(segments)
    assert found.phrase == "the board meets the board" and found.repeats == 30
    assert found.start_s == 5.0 and found.end_s == 49.95
    assert repetition_loops(sound_transcript()) == []


def test_natural_repetition_is_not_a_loop():
    segments = [spoken("no no no I said the report the report is late", 0.0, "SPEAKER_00")]
    assert repetition_loops(segments) == []


def test_a_segment_that_compresses_like_a_loop_is_found_without_a_clean_repeat():
    text = " ".join(["all right then"] * 3 + ["all right so"] * 3) * 3
    assert compression_ratio(text) > 2.4
    (found,) = repetition_loops([Segment(0.0, 20.0, text)])
    assert found.compression_ratio is not None and found.compression_ratio > 2.4


def test_truncation_allows_encoder_padding_but_not_a_cut_file():
    assert truncated_by(10.9, 3.7) == 7.2
    assert truncated_by(30.0, 29.5) == 0.0  # padding of a frame or two
    assert truncated_by(3600.0, 3540.0) == 0.0  # within 2% of an hour
    assert truncated_by(3600.0, 3000.0) == 600.0


def test_sound_analytics_add_up_and_broken_ones_do_not():
    segments = sound_transcript()
    stats = compute_stats(30.0, segments, TURNS)
    assert totals_that_do_not_add_up(stats, segments) == []
    extra_word = [*segments, Segment(31.0, 31.5, "hello", (Word(31.0, 31.5, "hello", 0.9),))]
    problems = totals_that_do_not_add_up(compute_stats(30.0, extra_word, TURNS), extra_word)
    assert problems == ["speakers have 66 words in all, the transcript 67"]
    too_short = compute_stats(20.0, segments, TURNS)
    assert any("longer than the audio" in p for p in totals_that_do_not_add_up(too_short, segments))
