"""Every turn, segment and word lies inside the audio: 0 <= start < end <= duration.

Models place times on their own grids: pyannote's frames and the speaker-embedding windows
run past the last sample (a 6.031 s file got a turn ending at 6.224 s), and Whisper's
timestamps are 20 ms tokens. The steps clip what they hand on to the recording's duration, so
talk time, silence and subtitles never describe audio that is not there; the `totals_add_up`
check then verifies it, with TOLERANCE_S for rounding."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from whisper_pipeline.core.records import Segment, SpeakerTurn, Word

TOLERANCE_S = 0.01  # docs/checks.md: a time this far outside the audio still passes
SHORTEST_S = 0.001  # a word or segment squeezed to nothing by clipping keeps this much


def clip_turns(turns: Iterable[SpeakerTurn], duration_s: float) -> tuple[SpeakerTurn, ...]:
    """The turns inside [0, duration]; a turn wholly outside is dropped."""
    clipped = []
    for turn in turns:
        start, end = max(0.0, turn.start_s), min(duration_s, turn.end_s)
        if end > start:
            clipped.append(replace(turn, start_s=round(start, 3), end_s=round(end, 3)))
    return tuple(clipped)


def clip_segments(segments: Iterable[Segment], duration_s: float) -> tuple[Segment, ...]:
    """Segments and their words inside [0, duration]. Text is never dropped: a segment or word
    that starts at or past the end keeps its words, squeezed into the audio's last moment."""
    return tuple(
        replace(
            segment,
            start_s=_start(segment.start_s, segment.end_s, duration_s),
            end_s=_end(segment.end_s, duration_s),
            words=tuple(_clip_word(word, duration_s) for word in segment.words),
        )
        for segment in segments
    )


def _clip_word(word: Word, duration_s: float) -> Word:
    return replace(
        word,
        start_s=_start(word.start_s, word.end_s, duration_s),
        end_s=_end(word.end_s, duration_s),
    )


def _end(end_s: float, duration_s: float) -> float:
    return round(min(max(end_s, SHORTEST_S), duration_s), 3)


def _start(start_s: float, end_s: float, duration_s: float) -> float:
    end = _end(end_s, duration_s)
    return round(max(0.0, min(start_s, end - SHORTEST_S)), 3)


def outside_the_audio(
    duration_s: float,
    turns: Sequence[SpeakerTurn],
    segments: Sequence[Segment],
    tolerance_s: float = TOLERANCE_S,
) -> list[str]:
    """What lies outside the audio or runs backwards, in both directions: a time before 0, a
    time past the duration (each beyond `tolerance_s`), an end not after its start."""
    problems: list[str] = []
    items: list[tuple[str, float, float]] = [
        (f"turn of {turn.speaker}", turn.start_s, turn.end_s) for turn in turns
    ]
    for segment in segments:
        items.append(("segment", segment.start_s, segment.end_s))
        items += [
            (f"word {word.text.strip()!r}", word.start_s, word.end_s) for word in segment.words
        ]
    for what, start, end in items:
        if start < -tolerance_s:
            problems.append(f"{what} starts at {start:.3f}s, before the audio")
        if end > duration_s + tolerance_s:
            problems.append(f"{what} ends at {end:.3f}s, after the audio's {duration_s:.3f}s")
        if end <= start:
            problems.append(f"{what} ends at {end:.3f}s, not after its start {start:.3f}s")
    if len(problems) > 3:
        return [*problems[:3], f"and {len(problems) - 3} more outside the audio"]
    return problems
