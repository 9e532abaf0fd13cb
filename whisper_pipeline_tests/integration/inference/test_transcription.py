"""Real whisperx on the bundled tiny.en model."""

import re
import subprocess
from dataclasses import replace

import jiwer
import pytest

from whisper_pipeline.evaluation.samples import write_non_speech_set
from whisper_pipeline.inference.audio import iter_windows, probe
from whisper_pipeline.inference.transcription import split_sentences, transcribe_windows


def normalise(text: str) -> str:
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    return " ".join(text.split())


def transcribe(asr, path, window_s=300.0, on_progress=None, keep_non_speech=False):
    with asr.borrow() as whisper:
        duration = probe(path).duration_s
        results = list(
            transcribe_windows(
                whisper.model,
                iter_windows(path, window_s),
                duration,
                None,
                8,
                None,
                on_progress,
                keep_non_speech=keep_non_speech,
            )
        )
    return results[-1].language if results else None, [s for w in results for s in w.segments]


def test_sample_call_matches_its_reference_transcript(asr, sample_call, sample_call_reference_text):
    language, segments = transcribe(asr, sample_call)
    hypothesis = " ".join(s.text for s in segments)
    error = jiwer.wer(normalise(sample_call_reference_text), normalise(hypothesis))
    assert language == "en"
    assert error <= 0.25, (error, hypothesis)


def test_word_timestamps_are_ordered_inside_their_segments(asr, sample_call):
    _, segments = transcribe(asr, sample_call)
    words = [w for s in segments for w in s.words]
    assert len(words) > 50
    for segment in segments:
        assert segment.words, segment
        assert (
            segment.start_s == segment.words[0].start_s and segment.end_s == segment.words[-1].end_s
        )
        for word in segment.words:
            assert segment.start_s <= word.start_s <= word.end_s <= segment.end_s
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    # the reference has speech from 6.7 s; nothing may be placed in the silence before it
    assert words[0].start_s > 6.0


def test_words_are_timed_near_the_reference(asr, sample_call):
    """'Diane in New Jersey' is said at 12.5-14.2 s and 'Sheila' at 14.4-17.8 s (sample.stm)."""
    _, segments = transcribe(asr, sample_call)
    words = [w for s in segments for w in s.words]
    diane = next(w for w in words if w.text.strip(".,").lower() == "diane")
    sheila = next(w for w in words if w.text.strip(".,").lower() == "sheila")
    assert 12.3 <= diane.start_s <= 14.2
    assert 14.3 <= sheila.start_s <= 17.8


def test_synthetic_conversation_matches_its_text(asr, conversation):
    path, _turns, text = conversation
    _, segments = transcribe(asr, path)
    assert jiwer.wer(normalise(text), normalise(" ".join(s.text for s in segments))) <= 0.25


def test_no_speech_is_lost_at_window_cuts(asr, conversation, tmp_path):
    """Three copies of the conversation (77 s) in 30 s windows: every reference turn keeps
    recognised words inside its time span, and progress moves forward to the end."""
    path, turns, _text = conversation
    repeated = tmp_path / "three meetings.wav"
    subprocess.run(["sox", str(path), str(path), str(path), str(repeated)], check=True)
    length = probe(path).duration_s
    reference = [
        replace(t, start_s=t.start_s + k * length, end_s=t.end_s + k * length)
        for k in range(3)
        for t in turns
    ]
    seen = []
    _, segments = transcribe(
        asr, repeated, window_s=30.0, on_progress=lambda pos, n: seen.append((pos, n))
    )
    words = [w for s in segments for w in s.words]
    for turn in reference:
        inside = [
            w for w in words if turn.start_s - 0.3 <= (w.start_s + w.end_s) / 2 <= turn.end_s + 0.3
        ]
        assert len(inside) >= 3, (turn, [(w.text, w.start_s) for w in words])
    positions = [p for p, _ in seen]
    assert positions == sorted(positions)
    assert positions[-1] == pytest.approx(probe(repeated).duration_s, abs=0.05)
    assert len({int(p // 30) for p in positions}) >= 3  # several windows reported


def test_a_progress_callback_that_raises_does_not_fail_transcription(asr, sample_call):
    def broken(_position, _segments):
        raise RuntimeError("progress backend is down")

    _, segments = transcribe(asr, sample_call, on_progress=broken)
    assert len(segments) > 5


def test_silence_and_very_short_audio_give_no_segments(asr, silent_file, tiny_file):
    for path in (silent_file, tiny_file):
        _, segments = transcribe(asr, path)
        assert segments == []


def test_split_sentences_cuts_at_sentence_ends_and_pauses():
    from whisper_pipeline.core.records import Word

    words = [
        Word(0, 0.5, "Hi."),
        Word(0.6, 1.0, "How"),
        Word(1.1, 1.5, "are"),
        Word(3.0, 3.4, "you"),
    ]
    pieces = split_sentences("Hi. How are you", words)
    assert [p.text for p in pieces] == ["Hi.", "How are", "you"]


def test_silent_windows_are_skipped_and_quiet_speech_is_not():
    import numpy as np

    from whisper_pipeline.inference.transcription import is_silent

    assert is_silent(np.zeros(16000, dtype=np.float32))
    assert is_silent(np.full(16000, 0.001, dtype=np.float32))  # -60 dBFS hum
    quiet_speech = np.zeros(16000, dtype=np.float32)
    quiet_speech[8000:8400] = 0.02  # a short word at -34 dBFS
    assert not is_silent(quiet_speech)


def test_a_chunk_that_loops_is_decoded_again_with_temperature_fallback(asr, tmp_path):
    """A synthetic meeting on which WhisperX's batched greedy decoding loops ('The board meets
    the board' for 27 s): the looping chunks are decoded again the way plain faster-whisper
    decodes, and the transcript comes out without a repetition loop, its text kept."""
    from whisper_pipeline.core.quality import repetition_loops
    from whisper_pipeline.evaluation.samples import write_meeting_set

    *_, meeting = write_meeting_set(tmp_path, 3, seed=7)  # meeting_007_02_2spk
    reference = meeting.with_suffix(".txt").read_text()
    with asr.borrow() as whisper:
        duration = probe(meeting).duration_s
        windows = list(transcribe_windows(whisper.model, iter_windows(meeting), duration, None, 8))
    segments = [s for w in windows for s in w.segments]
    assert sum(w.redecoded for w in windows) >= 1
    assert repetition_loops(segments) == [], repetition_loops(segments)
    hypothesis = " ".join(s.text for s in segments)
    assert jiwer.wer(normalise(reference), normalise(hypothesis)) < 0.8
    assert segments[-1].end_s > 75.0  # the text reaches the end of the meeting


def test_no_words_come_of_non_speech_and_speech_keeps_its_words(
    asr, tmp_path, sample_call, sample_call_reference_text
):
    """The held-out set of tones, beeps, clicks, hum, music, noise and silences: Whisper
    invents words on some of them ("you", "We'll see you soon!"), which are dropped by their
    no-speech probability; the real call's words are the same with and without the drop."""
    sounds = write_non_speech_set(tmp_path / "non-speech")
    kept = {
        p.stem: " ".join(s.text for s in transcribe(asr, p, keep_non_speech=True)[1])
        for p in sounds
    }
    assert any(text.strip() for text in kept.values())  # the set does make Whisper invent
    dropped = {p.stem: [s.text for s in transcribe(asr, p)[1]] for p in sounds}
    assert {name: said for name, said in dropped.items() if said} == {}
    before = " ".join(s.text for s in transcribe(asr, sample_call, keep_non_speech=True)[1])
    after = " ".join(s.text for s in transcribe(asr, sample_call)[1])
    reference = normalise(sample_call_reference_text)
    assert jiwer.wer(reference, normalise(after)) <= jiwer.wer(reference, normalise(before))
