"""Per-speaker analytics of one recording: talk time, words, pace, turns, overlap, silence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from whisper_pipeline.core.records import Segment, SpeakerTurn

UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class SpeakerStats:
    speaker: str
    talk_time_s: float
    talk_share: float
    words: int
    words_per_minute: float | None
    turns: int
    overlap_s: float
    language: str | None = None  # the language most of the speaker's segments are in


@dataclass(frozen=True)
class RecordingStats:
    duration_s: float
    speech_s: float
    silence_ratio: float
    overlap_s: float
    speakers: tuple[SpeakerStats, ...]


def merge_intervals(intervals: Sequence[tuple[float, float]], gap_s: float = 0.0):
    """Union of intervals; ones closer than `gap_s` are joined."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _total(intervals: Sequence[tuple[float, float]]) -> float:
    return sum(end - start for start, end in intervals)


def _intersection_s(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def speaker_intervals(
    segments: Sequence[Segment], turns: Sequence[SpeakerTurn]
) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's speech as merged intervals: diarization turns when there are any,
    otherwise the words' (or segments') times under one unattributed speaker."""
    by_speaker: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if turns:
        for turn in turns:
            by_speaker[turn.speaker].append((turn.start_s, turn.end_s))
    else:
        for segment in segments:
            spans = [(w.start_s, w.end_s) for w in segment.words] or [
                (segment.start_s, segment.end_s)
            ]
            by_speaker[UNATTRIBUTED].extend(spans)
    return {speaker: merge_intervals(spans) for speaker, spans in by_speaker.items()}


def compute_stats(
    duration_s: float,
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    turn_gap_s: float = 0.5,
) -> RecordingStats:
    intervals = speaker_intervals(segments, turns)
    speech = merge_intervals([span for spans in intervals.values() for span in spans])
    speech_s = _total(speech)
    words_by_speaker: dict[str, int] = defaultdict(int)
    speech_by_language: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for segment in segments:
        for word in segment.words:
            words_by_speaker[word.speaker or UNATTRIBUTED] += 1
        if segment.language:
            speaker = segment.speaker or UNATTRIBUTED
            speech_by_language[speaker][segment.language] += segment.end_s - segment.start_s
    overlap_total = 0.0
    # shares of everyone's talk time: they add up to 1 also when people talk over each other
    # (a share of speech time would count overlapping seconds once per speaker: 1.10 in all)
    all_talk_s = sum(_total(spans) for spans in intervals.values())
    rows: list[SpeakerStats] = []
    for speaker in sorted(intervals):
        own = intervals[speaker]
        others = merge_intervals(
            [span for other, spans in intervals.items() if other != speaker for span in spans]
        )
        talk_s = _total(own)
        overlap_s = _intersection_s(own, others)
        overlap_total += overlap_s
        words = words_by_speaker.get(speaker, 0)
        rows.append(
            SpeakerStats(
                speaker=speaker,
                talk_time_s=round(talk_s, 3),
                talk_share=round(talk_s / all_talk_s, 4) if all_talk_s else 0.0,
                words=words,
                words_per_minute=round(words / (talk_s / 60), 1) if talk_s > 0 else None,
                turns=len(merge_intervals(own, gap_s=turn_gap_s)),
                overlap_s=round(overlap_s, 3),
                language=max(languages, key=languages.get)
                if (languages := speech_by_language.get(speaker))
                else None,
            )
        )
    silence = 1.0 - speech_s / duration_s if duration_s > 0 else 1.0
    return RecordingStats(
        duration_s=duration_s,
        speech_s=round(speech_s, 3),
        silence_ratio=round(min(max(silence, 0.0), 1.0), 4),
        overlap_s=round(overlap_total / 2, 3),
        speakers=tuple(rows),
    )
