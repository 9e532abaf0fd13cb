"""Subtitle and transcript files people take away: SRT, VTT, TXT, TSV, JSON and RTTM."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from whisper_pipeline.core.fileio import write_text_atomic
from whisper_pipeline.core.records import Segment, SpeakerTurn, Transcript, Word
from whisper_pipeline.core.scoring import speaker_annotation

EXPORT_FORMATS = ("srt", "vtt", "txt", "tsv", "json", "rttm")


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


@dataclass(frozen=True)
class SubtitleStyle:
    """How subtitle cues are laid out (WhisperX's --max_line_width / --max_line_count)."""

    max_line_width: int = LINE_WIDTH  # display columns per line
    max_line_count: int | None = 2  # lines per cue; a longer segment becomes several cues
    min_cue_s: float = 0.5  # a shorter cue flashes by unread: held longer, up to the next cue
    highlight_words: bool = False  # WhisperX's --highlight_words: the word being said underlined


DEFAULT_STYLE = SubtitleStyle()


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    speaker: str | None
    words: tuple[Word, ...] = ()  # the timed words it shows, in order


SHORTEST_CUE_S = 0.05  # WebVTT requires an end after the start


def _lines(text: str, style: SubtitleStyle) -> int:
    return len(wrap_caption(text, style.max_line_width).splitlines())


def _fits(text: str, speaker: str | None, style: SubtitleStyle, prefix: bool) -> bool:
    shown = f"[{speaker}] {text}" if prefix and speaker else text
    return style.max_line_count is None or _lines(shown, style) <= style.max_line_count


def _split_segment(segment: Segment, style: SubtitleStyle, prefix: bool) -> list[Cue]:
    """The segment as cues of at most max_line_count lines: words in order, each cue timed
    from its first word to its last (by share of characters when there are no word times)."""
    text = segment.text.strip()
    words = [w for w in segment.words if w.text.strip()]
    if _fits(text, segment.speaker, style, prefix):
        return [Cue(segment.start_s, segment.end_s, text, segment.speaker, tuple(words))]
    tokens = [w.text.strip() for w in words] if words else text.split()
    if len(tokens) <= 1:
        return [Cue(segment.start_s, segment.end_s, text, segment.speaker, tuple(words))]
    spans = _token_spans(text, tokens)

    def joined(first: int, last: int) -> str:  # the segment's own spacing (none in Chinese)
        if spans is None:
            return " ".join(tokens[first : last + 1])
        return text[spans[first][0] : spans[last][1]]

    groups: list[list[int]] = [[]]
    for index in range(len(tokens)):
        first = groups[-1][0] if groups[-1] else index
        if groups[-1] and not _fits(joined(first, index), segment.speaker, style, prefix):
            groups.append([])
        groups[-1].append(index)
    total = sum(len(t) for t in tokens) or 1
    cues, done = [], 0
    span = segment.end_s - segment.start_s
    for group in groups:
        group_text = joined(group[0], group[-1])
        shown: tuple[Word, ...] = ()
        if words:
            start, end = words[group[0]].start_s, words[group[-1]].end_s
            shown = tuple(words[group[0] : group[-1] + 1])
        else:
            start = segment.start_s + span * done / total
            done += sum(len(tokens[i]) for i in group)
            end = segment.start_s + span * done / total
        cues.append(Cue(start, end, group_text, segment.speaker, shown))
    return cues


def _token_spans(text: str, tokens: list[str]) -> list[tuple[int, int]] | None:
    """Where each token lies in `text`, in order; None when they do not match it."""
    spans, at = [], 0
    for token in tokens:
        found = text.find(token, at)
        if found < 0:
            return None
        spans.append((found, found + len(token)))
        at = found + len(token)
    return spans


def subtitle_cues(
    segments: Sequence[Segment], style: SubtitleStyle = DEFAULT_STYLE, prefix: bool = True
) -> list[Cue]:
    """Cues of at most max_line_count lines of max_line_width columns, each shown for at least
    min_cue_s unless the next starts sooner, and never ending at or before its start."""
    cues = [cue for s in segments for cue in _split_segment(s, style, prefix)]
    timed = []
    for index, cue in enumerate(cues):
        next_start = cues[index + 1].start_s if index + 1 < len(cues) else float("inf")
        end = max(cue.end_s, min(cue.start_s + style.min_cue_s, next_start))
        timed.append(replace(cue, end_s=max(end, cue.start_s + SHORTEST_CUE_S)))
    return timed


def highlighted(cue: Cue, caption: str, after: int = 0) -> list[tuple[float, float, str]]:
    """The cue as one sub-cue per word being said, that word underlined in `caption` (the
    cue's wrapped text, its words found from character `after` on): from each word's start
    to the next one's, the first from the cue's start, the last to its end. The plain cue
    when its words are not timed or not found in the caption."""
    spans, at = [], after
    for word in cue.words:
        found = caption.find(word.text.strip(), at)
        if found < 0:
            return [(cue.start_s, cue.end_s, caption)]
        spans.append((found, found + len(word.text.strip())))
        at = spans[-1][1]
    if not spans:
        return [(cue.start_s, cue.end_s, caption)]
    pieces = []
    for index, (low, high) in enumerate(spans):
        start = cue.start_s if index == 0 else max(cue.words[index].start_s, pieces[-1][0])
        end = cue.end_s if index + 1 == len(spans) else cue.words[index + 1].start_s
        text = f"{caption[:low]}<u>{caption[low:high]}</u>{caption[high:]}"
        pieces.append((start, max(end, start + SHORTEST_CUE_S), text))
    return pieces


def _shown(cue: Cue, caption: str, style: SubtitleStyle, after: int = 0):
    if style.highlight_words:
        return highlighted(cue, caption, after)
    return [(cue.start_s, cue.end_s, caption)]


def to_srt(segments: Sequence[Segment], style: SubtitleStyle = DEFAULT_STYLE) -> str:
    blocks = []
    for cue in subtitle_cues(segments, style):
        prefix = f"[{cue.speaker}] " if cue.speaker else ""
        caption = wrap_caption(prefix + cue.text, style.max_line_width)
        for start, end, text in _shown(cue, caption, style, after=len(prefix)):
            blocks.append(
                f"{len(blocks) + 1}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
            )
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment], style: SubtitleStyle = DEFAULT_STYLE) -> str:
    blocks = ["WEBVTT\n"]
    for cue in subtitle_cues(segments, style, prefix=False):
        voice = f"<v {cue.speaker}>" if cue.speaker else ""
        caption = wrap_caption(cue.text, style.max_line_width)
        for start, end, text in _shown(cue, caption, style):
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


def to_tsv(segments: Sequence[Segment]) -> str:
    """Whisper's TSV: `start`, `end` (whole milliseconds) and `text` per segment, under a header
    line (what whisper's `--output_format tsv` and whisper-asr-webservice write); a speaker, when
    known, leads the text as in TXT. Tabs and line breaks in the text become spaces."""
    rows = ["start\tend\ttext"]
    for segment in segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if segment.speaker:
            text = f"{segment.speaker}: {text}"
        rows.append(f"{round(segment.start_s * 1000)}\t{round(segment.end_s * 1000)}\t{text}")
    return "\n".join(rows) + "\n"


def _whisperx_word(word: Word) -> dict[str, object]:
    entry: dict[str, object] = {"word": word.text.strip(), "start": word.start_s, "end": word.end_s}
    if word.probability is not None:
        entry["score"] = round(word.probability, 4)
    if word.speaker:
        entry["speaker"] = word.speaker
    return entry


def _whisperx_segment(segment: Segment) -> dict[str, object]:
    entry: dict[str, object] = {
        "start": segment.start_s,
        "end": segment.end_s,
        "text": segment.text,
    }
    if segment.speaker:
        entry["speaker"] = segment.speaker
    entry["words"] = [_whisperx_word(word) for word in segment.words]
    if segment.avg_logprob is not None:
        entry["avg_logprob"] = segment.avg_logprob
    if segment.language:
        entry["language"] = segment.language
    return entry


def to_json(
    recording_id: str,
    language: str,
    segments: Sequence[Segment],
    about: Mapping[str, object] | None = None,
) -> str:
    """WhisperX's result shape (`segments` with `start`, `end`, `text`, `speaker` and `words`
    of `word`, `start`, `end`, `score`, `speaker`; `word_segments`; `language`), so tools made
    for WhisperX's JSON read it, plus the recording: id, `source`, `duration`, `model`. A key
    without a value (no speaker, no score) is left out, as WhisperX leaves it out."""
    document: dict[str, object] = {"recording_id": recording_id, **(about or {})}
    document["language"] = language
    document["segments"] = [_whisperx_segment(segment) for segment in segments]
    document["word_segments"] = [
        _whisperx_word(word) for segment in segments for word in segment.words
    ]
    return json.dumps(document, ensure_ascii=False, indent=2)


def to_rttm(recording_id: str, turns: Sequence[SpeakerTurn]) -> str:
    """NIST RTTM, one SPEAKER line per turn, written by pyannote (what pyannote.metrics and
    dscore read). RTTM fields are space-separated: a name such as "Ana Lima" is written
    Ana_Lima."""
    buffer = io.StringIO()
    labelled = [replace(turn, speaker="_".join(turn.speaker.split())) for turn in turns]
    speaker_annotation(labelled, uri="_".join(recording_id.split())).write_rttm(buffer)
    return buffer.getvalue()


def about_recording(transcript: Transcript, source_name: str | None) -> dict[str, object]:
    """What the JSON export says of the recording besides its words."""
    return {"source": source_name, "duration": transcript.duration_s, "model": transcript.model}


def write_exports(
    directory: Path,
    recording_id: str,
    language: str,
    segments: Sequence[Segment],
    turns: Sequence[SpeakerTurn],
    about: Mapping[str, object] | None = None,
    style: SubtitleStyle = DEFAULT_STYLE,
) -> dict[str, Path]:
    """Write every export for one recording (RTTM only when there are turns); return the paths.
    A format no longer produced (RTTM after diarization was turned off) is removed. `about`
    (source, duration, model) goes into the JSON."""
    contents = {
        "srt": to_srt(segments, style),
        "vtt": to_vtt(segments, style),
        "txt": to_txt(segments),
        "tsv": to_tsv(segments),
        "json": to_json(recording_id, language, segments, about),
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
