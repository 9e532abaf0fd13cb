"""Subtitle and transcript files people take away: SRT, VTT, TXT, JSON and RTTM."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from whisper_pipeline.lib.fileio import write_text_atomic
from whisper_pipeline.lib.records import Segment, SpeakerTurn

EXPORT_FORMATS = ("srt", "vtt", "txt", "json", "rttm")


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


LINE_WIDTH = 42  # subtitle columns per line (the usual broadcast limit)


def display_width(text: str) -> int:
    """Columns `text` takes on screen: wide East Asian characters take two, combining marks
    none (len() would make Chinese lines twice as wide as allowed)."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def wrap_caption(text: str, width: int = LINE_WIDTH) -> str:
    """Lines of at most `width` display columns: broken between words, and between characters
    in scripts written without spaces (Chinese, Japanese) or in a word too long for a line."""
    pieces: list[str] = []
    for word in text.split():
        if display_width(word) <= width:
            pieces.append(word)
        else:
            pieces.extend(_character_pieces(word, width))
    lines: list[str] = []
    line = ""
    for piece in pieces:
        joined = f"{line} {piece}" if line and _spaced(line, piece) else line + piece
        if line and display_width(joined) > width:
            lines.append(line)
            line = piece
        else:
            line = joined
    if line:
        lines.append(line)
    return "\n".join(lines)


def _character_pieces(word: str, width: int) -> list[str]:
    """A word wider than a line (or a run of CJK text) as single characters, except that
    characters of space-separated scripts stay together up to the width."""
    pieces, current = [], ""
    for char in word:
        if _wide(char):
            if current:
                pieces.append(current)
                current = ""
            pieces.append(char)
        elif display_width(current + char) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    if current:
        pieces.append(current)
    return pieces


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _spaced(line: str, piece: str) -> bool:
    """Between two pieces of CJK text there is no space (they were one word)."""
    return not (_wide(line[-1]) and _wide(piece[0]))


def _caption(segment: Segment) -> str:
    text = segment.text.strip()
    return wrap_caption(f"[{segment.speaker}] {text}" if segment.speaker else text)


MIN_CUE_S = 0.5  # a shorter cue flashes by unread: it is held longer, up to the next cue
SHORTEST_CUE_S = 0.05  # WebVTT requires an end after the start


def cue_times(segments: Sequence[Segment]) -> list[tuple[float, float]]:
    """(start, end) of each subtitle cue: the segment's, held for at least MIN_CUE_S unless
    the next cue starts sooner, and never ending at or before its start."""
    times = []
    for index, segment in enumerate(segments):
        next_start = segments[index + 1].start_s if index + 1 < len(segments) else float("inf")
        end = max(segment.end_s, min(segment.start_s + MIN_CUE_S, next_start))
        times.append((segment.start_s, max(end, segment.start_s + SHORTEST_CUE_S)))
    return times


def to_srt(segments: Sequence[Segment]) -> str:
    blocks = [
        f"{index}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{_caption(s)}\n"
        for index, (s, (start, end)) in enumerate(
            zip(segments, cue_times(segments), strict=True), 1
        )
    ]
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment]) -> str:
    blocks = ["WEBVTT\n"]
    for s, (start, end) in zip(segments, cue_times(segments), strict=True):
        voice = f"<v {s.speaker}>" if s.speaker else ""
        text = wrap_caption(s.text.strip())
        blocks.append(f"{_clock(start, '.')} --> {_clock(end, '.')}\n{voice}{text}\n")
    return "\n".join(blocks)


def to_txt(segments: Sequence[Segment]) -> str:
    """Plain text, one paragraph per speaker turn (or per segment when nobody is known)."""
    lines: list[str] = []
    current: str | None = None
    for s in segments:
        text = s.text.strip()
        if not text:
            continue
        if s.speaker and s.speaker == current and lines:
            lines[-1] += " " + text
        else:
            lines.append(f"{s.speaker}: {text}" if s.speaker else text)
        current = s.speaker
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(recording_id: str, language: str, segments: Sequence[Segment]) -> str:
    document = {
        "recording_id": recording_id,
        "language": language,
        "segments": [asdict(s) for s in segments],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def to_rttm(recording_id: str, turns: Sequence[SpeakerTurn]) -> str:
    """NIST RTTM, one SPEAKER line per turn, as pyannote.metrics and dscore read it."""
    lines = [
        f"SPEAKER {recording_id} 1 {t.start_s:.3f} {t.duration_s:.3f} <NA> <NA> {t.speaker} <NA> <NA>"
        for t in sorted(turns, key=lambda t: t.start_s)
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def write_exports(
    directory: Path,
    recording_id: str,
    language: str,
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
) -> dict[str, Path]:
    """Write every export for one recording (RTTM only when there are turns); return the paths.
    A format no longer produced (RTTM after diarization was turned off) is removed."""
    contents = {
        "srt": to_srt(segments),
        "vtt": to_vtt(segments),
        "txt": to_txt(segments),
        "json": to_json(recording_id, language, segments),
    }
    if turns:
        contents["rttm"] = to_rttm(recording_id, turns)
    written: dict[str, Path] = {}
    for extension in EXPORT_FORMATS:
        path = Path(directory) / f"{recording_id}.{extension}"
        if extension in contents:
            write_text_atomic(path, contents[extension])
            written[extension] = path
        else:
            path.unlink(missing_ok=True)
    return written
