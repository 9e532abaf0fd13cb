"""Speaker assignment: a pure function from transcript and turns to speaker-attributed segments."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from whisper_pipeline.core.records import Segment, SpeakerTurn, Word


def _overlaps(start_s: float, end_s: float, turns: Sequence[SpeakerTurn], starts: list[float]):
    """Seconds of overlap with each speaker whose turns touch [start_s, end_s]."""
    seconds: dict[str, float] = defaultdict(float)
    index = bisect.bisect_right(starts, end_s)
    # turns are sorted by start; scan back over all that may still reach start_s
    for turn in turns[:index]:
        overlap = min(end_s, turn.end_s) - max(start_s, turn.start_s)
        if overlap > 0:
            seconds[turn.speaker] += overlap
    return seconds


def _nearest_speaker(time_s: float, turns: Sequence[SpeakerTurn]) -> str | None:
    best: tuple[float, str] | None = None
    for turn in turns:
        distance = max(turn.start_s - time_s, time_s - turn.end_s, 0.0)
        if best is None or distance < best[0]:
            best = (distance, turn.speaker)
    return best[1] if best else None


def assign_speakers(
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    fill_nearest: bool = True,
    channel_speakers: Sequence[str | None] = (),
) -> list[Segment]:
    """Give each word the speaker it overlaps most (the nearest turn's speaker when it overlaps
    none and `fill_nearest`), and each segment the speaker holding most of its words' time.
    A segment transcribed from a channel with a speaker of its own (`channel_speakers`, a
    call recorded one voice per channel) is that speaker's, words and all."""
    if not turns:
        return list(segments)
    ordered = sorted(turns, key=lambda t: t.start_s)
    starts = [turn.start_s for turn in ordered]
    result: list[Segment] = []
    for segment in segments:
        own = _channel_speaker(segment, channel_speakers)
        if own is not None:
            words_of_own = tuple(replace(word, speaker=own) for word in segment.words)
            result.append(replace(segment, words=words_of_own, speaker=own))
            continue
        words: list[Word] = []
        time_by_speaker: dict[str, float] = defaultdict(float)
        for word in segment.words:
            overlap = _overlaps(word.start_s, word.end_s, ordered, starts)
            speaker = max(overlap, key=overlap.get) if overlap else None
            if speaker is None and fill_nearest:
                speaker = _nearest_speaker((word.start_s + word.end_s) / 2, ordered)
            if speaker is not None:
                time_by_speaker[speaker] += max(word.end_s - word.start_s, 0.01)
            words.append(replace(word, speaker=speaker))
        if not time_by_speaker:
            time_by_speaker = _overlaps(segment.start_s, segment.end_s, ordered, starts)
        speaker = max(time_by_speaker, key=time_by_speaker.get) if time_by_speaker else None
        result.append(replace(segment, words=tuple(words), speaker=speaker))
    return result


def _channel_speaker(segment: Segment, channel_speakers: Sequence[str | None]) -> str | None:
    if segment.channel is None or segment.channel >= len(channel_speakers):
        return None
    return channel_speakers[segment.channel]
