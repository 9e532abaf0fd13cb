"""What makes a transcript untrustworthy, measured: speech with no words, repetition loops,
audio that stops before the file says it should, speakers who talk but say nothing, totals
that do not add up. The asset checks (assets/checks.py) turn these findings red in the UI."""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from whisper_pipeline.core.analytics import RecordingStats
from whisper_pipeline.core.records import Segment, SpeakerTurn, Word

# A stretch of speech this long with no word in it is speech the transcript lost.
MIN_LOST_SPEECH_S = 3.0
# Word timestamps are approximate (and a word's edges are quiet): a word covers this much
# speech on either side of its own span.
WORD_REACH_S = 1.0
# Whisper's own sign of a degenerate window: text that compresses better than this.
MAX_COMPRESSION_RATIO = 2.4
MIN_COMPRESSIBLE_CHARS = 100
# A phrase said this many times in a row (and at least this many words in all) is a loop.
MIN_LOOP_REPEATS = 4
MIN_LOOP_WORDS = 12
MAX_LOOP_PHRASE = 8
# Decoded audio may fall short of the container's duration by this much (encoder padding).
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_RATIO = 0.02
# A speaker with this much talk time should have at least one word.
MIN_TALK_FOR_WORDS_S = 3.0

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Stretch:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def describe(self) -> str:
        return f"{self.start_s:.1f}-{self.end_s:.1f}s"


@dataclass(frozen=True)
class Loop:
    """A phrase repeated `repeats` times in a row, or a segment that compresses too well."""

    phrase: str
    repeats: int
    start_s: float
    end_s: float
    compression_ratio: float | None = None

    def describe(self) -> str:
        if self.compression_ratio is not None:
            return (
                f"{self.start_s:.1f}-{self.end_s:.1f}s: text compresses {self.compression_ratio:.1f}x"
                f" ({self.phrase[:60]!r}...)"
            )
        return f"{self.start_s:.1f}-{self.end_s:.1f}s: {self.phrase!r} x{self.repeats}"


def merge(stretches: Sequence[Stretch], gap_s: float = 0.0) -> list[Stretch]:
    """The union of `stretches` (those closer than `gap_s` joined)."""
    merged: list[Stretch] = []
    for stretch in sorted(stretches, key=lambda s: s.start_s):
        if merged and stretch.start_s <= merged[-1].end_s + gap_s:
            last = merged[-1]
            merged[-1] = Stretch(last.start_s, max(last.end_s, stretch.end_s))
        else:
            merged.append(stretch)
    return merged


def subtract(stretches: Sequence[Stretch], holes: Sequence[Stretch]) -> list[Stretch]:
    """What of `stretches` (merged) lies outside every one of `holes` (merged)."""
    holes = merge(holes)
    left: list[Stretch] = []
    for stretch in merge(stretches):
        start = stretch.start_s
        for hole in holes:
            if hole.end_s <= start or hole.start_s >= stretch.end_s:
                continue
            if hole.start_s > start:
                left.append(Stretch(start, hole.start_s))
            start = max(start, hole.end_s)
        if start < stretch.end_s:
            left.append(Stretch(start, stretch.end_s))
    return left


def speech_without_words(
    turns: Sequence[SpeakerTurn],
    words: Sequence[Word],
    min_s: float = MIN_LOST_SPEECH_S,
    reach_s: float = WORD_REACH_S,
) -> list[Stretch]:
    """Stretches of at least `min_s` of detected speech (speaker turns) with no word within
    `reach_s`: speech the transcript lost."""
    speech = [Stretch(turn.start_s, turn.end_s) for turn in turns]
    covered = [Stretch(w.start_s - reach_s, w.end_s + reach_s) for w in words]
    return [s for s in subtract(speech, covered) if s.duration_s >= min_s]


def speakers_without_words(
    turns: Sequence[SpeakerTurn],
    segments: Sequence[Segment],
    min_talk_s: float = MIN_TALK_FOR_WORDS_S,
) -> dict[str, float]:
    """Speaker -> talk time, for speakers who talk at least `min_talk_s` but got no word."""
    talk: dict[str, list[Stretch]] = defaultdict(list)
    for turn in turns:
        talk[turn.speaker].append(Stretch(turn.start_s, turn.end_s))
    with_words = {
        word.speaker or segment.speaker for segment in segments for word in segment.words
    } | {segment.speaker for segment in segments if segment.text.strip() and not segment.words}
    silent = {}
    for speaker, stretches in talk.items():
        seconds = sum(s.duration_s for s in merge(stretches))
        if seconds >= min_talk_s and speaker not in with_words:
            silent[speaker] = round(seconds, 2)
    return silent


def compression_ratio(text: str) -> float:
    """How much zlib shrinks the text (Whisper's measure: above 2.4 is repetitive)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _timed_tokens(segments: Sequence[Segment]) -> list[tuple[str, float, float]]:
    """Lower-case word tokens with the time of the segment (or word) they come from."""
    tokens: list[tuple[str, float, float]] = []
    for segment in segments:
        if segment.words:
            for word in segment.words:
                tokens.extend(
                    (t.lower(), word.start_s, word.end_s) for t in _TOKEN.findall(word.text)
                )
        else:
            tokens.extend(
                (t.lower(), segment.start_s, segment.end_s) for t in _TOKEN.findall(segment.text)
            )
    return tokens


def repetition_loops(segments: Sequence[Segment]) -> list[Loop]:
    """Phrases of 1 to 8 words said at least 4 times in a row (12 words or more in all), across
    segment boundaries, and segments whose text compresses like a loop."""
    tokens = _timed_tokens(segments)
    words = [token for token, _, _ in tokens]
    loops: list[Loop] = []
    at = 0
    while at < len(words):
        found = None
        for size in range(1, MAX_LOOP_PHRASE + 1):
            phrase = words[at : at + size]
            if len(phrase) < size:
                break
            repeats = 1
            while words[at + repeats * size : at + (repeats + 1) * size] == phrase:
                repeats += 1
            if repeats >= MIN_LOOP_REPEATS and repeats * size >= MIN_LOOP_WORDS:
                found = (size, repeats)
                break
        if found is None:
            at += 1
            continue
        size, repeats = found
        end = at + size * repeats
        loops.append(
            Loop(" ".join(words[at : at + size]), repeats, tokens[at][1], tokens[end - 1][2])
        )
        at = end
    looped = [Stretch(loop.start_s, loop.end_s) for loop in loops]
    for segment in segments:
        text = segment.text.strip()
        ratio = compression_ratio(text)
        inside = any(s.start_s <= segment.start_s and segment.end_s <= s.end_s for s in looped)
        if len(text) >= MIN_COMPRESSIBLE_CHARS and ratio > MAX_COMPRESSION_RATIO and not inside:
            loops.append(Loop(text, 0, segment.start_s, segment.end_s, round(ratio, 2)))
    return sorted(loops, key=lambda loop: loop.start_s)


def text_loops(text: str) -> bool:
    """Whether one piece of transcribed text is a repetition loop (as repetition_loops says)."""
    return bool(repetition_loops([Segment(0.0, 0.0, text)]))


def truncated_by(container_s: float, decoded_s: float) -> float:
    """Seconds the container promises beyond what decodes (0 when within tolerance)."""
    missing = container_s - decoded_s
    tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_RATIO * container_s)
    return round(missing, 2) if missing > tolerance else 0.0


def totals_that_do_not_add_up(stats: RecordingStats, segments: Sequence[Segment]) -> list[str]:
    """What in a recording's analytics contradicts itself or the transcript."""
    problems = []
    if stats.speakers:
        shares = sum(row.talk_share for row in stats.speakers)
        if abs(shares - 1.0) > 0.01:
            problems.append(f"talk shares add up to {shares:.3f}, not 1")
    words = sum(len(segment.words) for segment in segments)
    counted = sum(row.words for row in stats.speakers)
    if counted != words:
        problems.append(f"speakers have {counted} words in all, the transcript {words}")
    limit = stats.duration_s + 0.05
    if stats.speech_s > limit:
        problems.append(
            f"speech {stats.speech_s:.2f}s is longer than the audio {stats.duration_s:.2f}s"
        )
    for row in stats.speakers:
        if row.talk_time_s > limit:
            problems.append(f"{row.speaker} talks {row.talk_time_s:.2f}s, longer than the audio")
    if not 0.0 <= stats.silence_ratio <= 1.0:
        problems.append(f"silence ratio {stats.silence_ratio} is outside 0..1")
    if stats.overlap_s > stats.speech_s + 0.01:
        problems.append(f"overlap {stats.overlap_s:.2f}s exceeds speech {stats.speech_s:.2f}s")
    return problems


# Whisper's own rule for a stretch that is not speech: its no-speech token is likely and the
# decoded text unlikely (openai/whisper's and faster-whisper's defaults).
NO_SPEECH_PROB = 0.6
LOW_AVG_LOGPROB = -1.0
# Above this the model is sure enough on its own (tones, beeps and noise measured 0.78-0.95;
# speech 0.02-0.5, a lone synthetic "Yes." 0.50): docs/models.md.
SURE_NO_SPEECH_PROB = 0.75


def sounds_like_non_speech(
    no_speech_prob: float | None, avg_logprob: float | None, text: str
) -> bool:
    """Whether decoded text most likely came from non-speech (tones, music, noise, clicks):
    Whisper invents "you" and "Thank you." there. Text without a letter or digit says nothing;
    otherwise Whisper's own rule (likely no speech and unlikely text), or a no-speech
    probability past SURE_NO_SPEECH_PROB. (Text that loops is no sign: people repeat
    themselves, and loops are decoded again and checked on their own.)"""
    if not any(char.isalnum() for char in text):
        return True
    if no_speech_prob is None or no_speech_prob <= NO_SPEECH_PROB:
        return False
    if no_speech_prob > SURE_NO_SPEECH_PROB:
        return True
    return avg_logprob is not None and avg_logprob < LOW_AVG_LOGPROB
