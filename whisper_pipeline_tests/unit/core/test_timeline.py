"""Times inside the audio: clipping what models place past the end, and the check that finds
what lies outside in either direction."""

from whisper_pipeline.core.records import Segment, SpeakerTurn, Word
from whisper_pipeline.core.timeline import (
    TOLERANCE_S,
    clip_segments,
    clip_turns,
    outside_the_audio,
)


def inside(duration: float, turns, segments) -> bool:
    spans = [(t.start_s, t.end_s) for t in turns]
    for segment in segments:
        spans += [(segment.start_s, segment.end_s)]
        spans += [(w.start_s, w.end_s) for w in segment.words]
    return all(0 <= start < end <= duration for start, end in spans)


def test_turns_past_the_end_are_clipped_and_turns_wholly_outside_dropped():
    turns = [
        SpeakerTurn(-0.05, 1.0, "A"),
        SpeakerTurn(5.2, 6.224, "B"),  # pyannote's frames past a 6.031 s file
        SpeakerTurn(6.1, 6.3, "A"),  # wholly past the end
    ]
    clipped = clip_turns(turns, 6.031)
    assert clipped == (SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(5.2, 6.031, "B"))
    assert inside(6.031, clipped, [])


def test_segments_and_words_keep_their_text_inside_the_audio():
    words = (Word(7.5, 7.98, " so"), Word(7.98, 8.06, " bye"), Word(8.02, 8.1, " now"))
    segments = [Segment(7.5, 8.1, " so bye now", words)]
    (clipped,) = clip_segments(segments, 8.0)
    assert clipped.text == " so bye now" and [w.text for w in clipped.words] == [
        " so",
        " bye",
        " now",
    ]
    assert clipped.end_s == 8.0 and clipped.words[1].end_s == 8.0
    assert inside(8.0, [], [clipped])


def test_the_check_flags_both_directions_beyond_its_tolerance():
    assert outside_the_audio(6.0, [SpeakerTurn(0.0, 6.0 + TOLERANCE_S / 2, "A")], []) == []
    late = outside_the_audio(6.031, [SpeakerTurn(5.0, 6.224, "A")], [])
    assert late == ["turn of A ends at 6.224s, after the audio's 6.031s"]
    early = outside_the_audio(6.0, [], [Segment(-0.5, 1.0, "hi", (Word(-0.5, 0.2, "hi"),))])
    assert early == [
        "segment starts at -0.500s, before the audio",
        "word 'hi' starts at -0.500s, before the audio",
    ]
    backwards = outside_the_audio(6.0, [SpeakerTurn(3.0, 3.0, "B")], [])
    assert backwards == ["turn of B ends at 3.000s, not after its start 3.000s"]
    many = outside_the_audio(1.0, [SpeakerTurn(2.0, 3.0, "A")] * 5, [])
    assert len(many) == 4 and many[-1] == "and 2 more outside the audio"
