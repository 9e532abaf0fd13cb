"""The small result types every step hands on: words, segments, turns, transcripts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class RecordingFacts:
    """What step 1 found out about the file (ffprobe facts, content hash)."""

    recording_id: str
    source_path: str
    content_sha256: str
    size_bytes: int
    mtime_ns: int
    duration_s: float
    codec: str
    sample_rate_hz: int
    channels: int
    container: str
    channel_layout: str = (
        "mono"  # inference/channels.py: "one voice per channel" is diarized by channel
    )
    # for "one voice per channel": where each channel's own voice speaks, (start_s, end_s)
    channel_voices: tuple[tuple[tuple[float, float], ...], ...] = ()


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    avg_logprob: float | None = None
    language: str | None = None  # the language its window was transcribed in
    channel: int | None = None  # the channel it was transcribed from (one voice per channel)


@dataclass(frozen=True)
class SpeakerTurn:
    start_s: float
    end_s: float
    speaker: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Transcript:
    """What the transcribe step produces for one recording."""

    language: str
    duration_s: float
    segments: tuple[Segment, ...]
    model: str
    device: str
    word_timestamps: str  # "alignment:<model>" or "whisper"
    transcribe_seconds: float = 0.0
    language_probability: float | None = None  # None: configured, or an English-only model
    languages: str = ""  # "de 55%, es 45%" when several languages are spoken
    language_note: str | None = None  # a warning about the language (English-only model)
    container_s: float | None = None  # what the file claims, when more than decodes (truncated)

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments).strip()


@dataclass(frozen=True)
class Diarization:
    """Speaker turns, or the reason there are none."""

    turns: tuple[SpeakerTurn, ...] = ()
    backend: str = "none"
    skipped_reason: str | None = None
    seconds: float = 0.0
    voice_vectors: dict[str, tuple[float, ...]] = field(default_factory=dict)
    named: dict[str, float] = field(default_factory=dict)  # name given -> voice similarity
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def speakers(self) -> list[str]:
        return sorted({turn.speaker for turn in self.turns})


def shifted(segment: Segment, offset_s: float) -> Segment:
    """The same segment moved `offset_s` seconds later (window-relative to recording-relative)."""
    return replace(
        segment,
        start_s=round(segment.start_s + offset_s, 3),
        end_s=round(segment.end_s + offset_s, 3),
        words=tuple(
            replace(w, start_s=round(w.start_s + offset_s, 3), end_s=round(w.end_s + offset_s, 3))
            for w in segment.words
        ),
    )
