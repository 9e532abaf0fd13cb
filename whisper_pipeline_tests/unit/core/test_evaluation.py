"""Scoring helpers against pyannote's own reference files."""

import pytest

from whisper_pipeline.core.exports import to_rttm
from whisper_pipeline.core.records import SpeakerTurn
from whisper_pipeline.core.scoring import (
    FileResult,
    read_reference_text,
    read_rttm,
    score_diarization,
    summarize,
    word_error_rate,
)
from whisper_pipeline.evaluation.samples import pyannote_sample_dir


def test_rttm_round_trip_and_perfect_score(tmp_path):
    reference = read_rttm(pyannote_sample_dir() / "sample.rttm")
    assert len({t.speaker for t in reference}) == 2 and len(reference) > 5
    (tmp_path / "copy.rttm").write_text(to_rttm("copy", reference))
    again = read_rttm(tmp_path / "copy.rttm")
    assert [(round(t.start_s, 3), round(t.end_s, 3), t.speaker) for t in again] == [
        (round(t.start_s, 3), round(t.end_s, 3), t.speaker) for t in reference
    ]
    renamed = [SpeakerTurn(t.start_s, t.end_s, "X" + t.speaker) for t in reference]
    score = score_diarization(reference, renamed)  # labels do not matter, only the mapping
    assert score.der == 0.0 and score.count_error == 0


def test_one_label_for_everyone_is_scored_as_confusion():
    reference = [SpeakerTurn(0, 10, "a"), SpeakerTurn(10, 20, "b")]
    merged = [SpeakerTurn(0, 20, "x")]
    score = score_diarization(reference, merged, collar_s=0.0)
    assert score.der == pytest.approx(0.5) and score.count_error == -1
    assert score.confusion_s == pytest.approx(10.0)


def test_stm_text_and_word_error_rate():
    text = read_reference_text(pyannote_sample_dir() / "sample.stm")
    assert "inter_segment_gap" not in text and len(text.split()) > 50
    assert text.startswith("Hello? Hello? Oh, hello. I didn't know")  # no label: all words
    assert text.endswith("Oh, I don't hear that in New Jersey now.")


def test_stm_labels_and_ignored_segments_are_not_words(tmp_path):
    stm = tmp_path / "call.stm"
    stm.write_text(
        ";; a comment\n"
        "call 1 A 0.0 1.0 <o,f0,female> good morning\n"
        "call 1 inter_segment_gap 1.0 2.0 <o,,unknown>\n"
        "call 1 B 2.0 3.0 hi there <laugh> Ann\n"
    )
    assert read_reference_text(stm) == "good morning hi there Ann"
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("one two three four", "one two four") == 0.25
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "words") == 1.0


def test_summary_counts_files_with_the_right_number_of_speakers():
    rows = [
        FileResult(
            "a.wav",
            60,
            6,
            10,
            der=0.1,
            jer=0.2,
            reference_speakers=2,
            found_speakers=2,
            count_error=0,
        ),
        FileResult(
            "b.wav",
            60,
            4,
            15,
            der=0.3,
            jer=0.4,
            reference_speakers=3,
            found_speakers=2,
            count_error=-1,
        ),
        FileResult("c.wav", 30, 2, 15),
    ]
    summary = summarize(rows)
    assert summary["mean_der"] == 0.2 and summary["count_right"] == 0.5
    assert summary["realtime_factor"] == 12.5 and summary["files"] == 3


def test_summary_pools_the_errors_over_all_scored_speech():
    """Missed speech, false alarms and confusion as shares of all reference speech: a long file
    weighs by its length, unlike the mean DER of the files."""
    turns = [SpeakerTurn(0, 10, "A"), SpeakerTurn(10, 20, "B")]
    found = [SpeakerTurn(0, 8, "X"), SpeakerTurn(8, 20, "Y"), SpeakerTurn(20, 21, "Z")]
    one = score_diarization(turns, found, collar_s=0)  # 2 s confused, 1 s false alarm
    two = score_diarization([SpeakerTurn(0, 10, "A")], [], collar_s=0)  # all 10 s missed
    assert (one.der, one.reference_speech_s, two.der, two.reference_speech_s) == (
        0.15,
        20.0,
        1.0,
        10.0,
    )
    rows = [
        FileResult(
            name,
            30,
            1,
            30,
            der=score.der,
            missed_s=score.missed_s,
            false_alarm_s=score.false_alarm_s,
            confusion_s=score.confusion_s,
            reference_speech_s=score.reference_speech_s,
        )
        for name, score in (("one.wav", one), ("two.wav", two))
    ]
    summary = summarize(rows)
    assert summary["mean_der"] == 0.575 and summary["pooled_der"] == round(13 / 30, 4)
    assert (summary["missed"], summary["false_alarm"], summary["confusion"]) == (
        round(10 / 30, 4),
        round(1 / 30, 4),
        round(2 / 30, 4),
    )
    assert summarize([FileResult("c.wav", 30, 2, 15)])["pooled_der"] is None
