from whisper_pipeline.core.records import Segment, SpeakerTurn, Word
from whisper_pipeline.core.speakers import assign_speakers


def _segment(*words):
    return Segment(
        words[0][0], words[-1][1], " ".join(w[2] for w in words), tuple(Word(*w) for w in words)
    )


def test_each_word_gets_the_speaker_it_overlaps_most():
    turns = [SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(1.8, 4.0, "B")]
    segment = _segment((0.2, 0.8, "one"), (1.7, 2.6, "two"), (3.0, 3.5, "three"))
    (result,) = assign_speakers([segment], turns)
    assert [w.speaker for w in result.words] == ["A", "B", "B"]
    assert result.speaker == "B"  # B holds most of the segment's word time


def test_words_in_overlap_go_to_the_speaker_they_overlap_most():
    turns = [SpeakerTurn(0.0, 1.3, "A"), SpeakerTurn(1.0, 3.0, "B")]
    (result,) = assign_speakers([_segment((1.0, 1.2, "mid"), (1.05, 1.9, "late"))], turns)
    assert [w.speaker for w in result.words] == ["A", "B"]


def test_words_outside_every_turn_take_the_nearest_speaker():
    turns = [SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(5.0, 6.0, "B")]
    (result,) = assign_speakers([_segment((1.2, 1.5, "x"), (4.4, 4.8, "y"))], turns)
    assert [w.speaker for w in result.words] == ["A", "B"]


def test_without_turns_nothing_changes():
    segment = _segment((0.0, 1.0, "hi"))
    assert assign_speakers([segment], []) == [segment]


def test_a_segment_from_a_speaker_s_own_channel_is_theirs_even_over_the_other_s_turn():
    from whisper_pipeline.core.records import Segment, SpeakerTurn, Word
    from whisper_pipeline.core.speakers import assign_speakers

    turns = [SpeakerTurn(0.0, 2.3, "SPEAKER_00"), SpeakerTurn(2.0, 4.0, "SPEAKER_01")]
    words = (Word(2.1, 2.5, "yes"), Word(2.6, 3.0, "sure"))
    left = Segment(2.1, 3.0, "yes sure", words, channel=0)
    right = Segment(2.1, 3.0, "yes sure", words, channel=1)
    mixed = Segment(2.1, 3.0, "yes sure", words)
    channel_speakers = ["SPEAKER_00", "SPEAKER_01"]
    by_channel = assign_speakers([left, right, mixed], turns, channel_speakers=channel_speakers)
    assert [segment.speaker for segment in by_channel] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert {word.speaker for word in by_channel[0].words} == {"SPEAKER_00"}
    # without the channels' speakers, overlap decides
    assert assign_speakers([left], turns)[0].speaker == "SPEAKER_01"
