"""What a person reads on a recording's page in the Dagster UI: the transcript as a Markdown
table (time, speaker, text) and a speaker timeline picture, a PNG inlined as base64 so the UI's
Markdown renders it with nothing to serve."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from whisper_pipeline.core.display import clock, label, timestamp
from whisper_pipeline.core.progress import format_duration
from whisper_pipeline.core.records import Segment, SpeakerTurn

# The UI page stays quick to open: longer transcripts are cut here, with the files named.
PREVIEW_MINUTES = 10
# Tableau's 10 colours: distinct for the usual 2-6 speakers, and the same colour per speaker
# order everywhere.
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def _cell(text: str) -> str:
    """Text in a Markdown table cell: one line (control characters shown escaped), pipes
    escaped."""
    return " ".join(label(text).replace("|", "\\|").split())


def speaker_paragraphs(segments: Sequence[Segment]) -> list[tuple[float, str, str]]:
    """(start, speaker, text) with consecutive segments of one speaker joined, as people read."""
    rows: list[tuple[float, str, str]] = []
    for segment in segments:
        speaker = segment.speaker or "-"
        text = segment.text.strip()
        if not text:
            continue
        if rows and rows[-1][1] == speaker:
            start, _, before = rows[-1]
            rows[-1] = (start, speaker, f"{before} {text}")
        else:
            rows.append((segment.start_s, speaker, text))
    return rows


def transcript_markdown(
    segments: Sequence[Segment],
    duration_s: float,
    files: Mapping[str, Path],
    minutes: int = PREVIEW_MINUTES,
) -> str:
    """The first `minutes` of the transcript as a table, then where the whole of it is."""
    limit_s = minutes * 60
    rows = speaker_paragraphs(segments)
    shown = [row for row in rows if row[0] < limit_s]
    lines = ["| time | speaker | text |", "|---|---|---|"]
    lines += [
        f"| {timestamp(start)} | **{_cell(who)}** | {_cell(text)} |" for start, who, text in shown
    ]
    if not rows:
        lines = ["_No speech detected._"]
    elif len(shown) < len(rows):
        lines.append("")
        lines.append(
            f"_The first {minutes} minutes of {format_duration(duration_s)}:"
            f" {len(rows) - len(shown)} more passages in the files below._"
        )
    lines.append("")
    lines.append("Whole transcript: " + ", ".join(f"`{path}`" for path in files.values()))
    return "\n".join(lines)


def _tick_step(duration_s: float) -> float:
    """A round interval giving 5-12 ticks on the time axis."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if duration_s / step <= 12:
            return step
    return 14400


def speaker_timeline_png(
    turns: Sequence[SpeakerTurn], duration_s: float, width: int = 1200
) -> bytes:
    """One row per speaker, a bar for each turn, over a time axis; PNG bytes."""
    from PIL import Image, ImageDraw, ImageFont

    speakers = sorted({turn.speaker for turn in turns})
    font = ImageFont.load_default(size=14)
    label_width = 20 + max((int(font.getlength(s)) for s in speakers), default=60)
    row, top, axis = 28, 10, 30
    height = top + row * max(len(speakers), 1) + axis
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    plot_left, plot_right = label_width, width - 15
    scale = (plot_right - plot_left) / max(duration_s, 1e-6)

    def x(seconds: float) -> float:
        return plot_left + min(max(seconds, 0.0), duration_s) * scale

    step = _tick_step(duration_s)
    tick = 0.0
    bottom = top + row * max(len(speakers), 1)
    while tick <= duration_s + 1e-6:
        draw.line([(x(tick), top), (x(tick), bottom + 4)], fill=(225, 225, 225))
        label = clock(tick)
        draw.text((x(tick) - font.getlength(label) / 2, bottom + 8), label, fill="black", font=font)
        tick += step
    for index, speaker in enumerate(speakers):
        y = top + index * row
        colour = PALETTE[index % len(PALETTE)]
        draw.text((8, y + 6), speaker, fill="black", font=font)
        for turn in turns:
            if turn.speaker == speaker:
                left, right = x(turn.start_s), max(x(turn.end_s), x(turn.start_s) + 1)
                draw.rectangle([left, y + 5, right, y + row - 5], fill=colour)
    draw.line([(plot_left, bottom), (plot_right, bottom)], fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def image_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def recording_index_markdown(rows: Sequence[Mapping[str, object]]) -> str:
    """Every recording as a table row: its file name, a link to its partition pages (the
    speaker transcript when processed, the step that failed otherwise), its state and facts."""
    if not rows:
        return "_No recordings yet._"
    lines = [
        "| file | state | duration | language | speakers | recording |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        failed = row["state"] == "failed"
        page = row["failed_step"] if failed else "speaker_transcript"
        link = f"[{row['recording_id']}](/assets/{page}?view=partitions&partition={row['recording_id']})"
        state = f"failed: {row['error']}" if failed else row["state"]
        duration = row["duration_s"]
        lines.append(
            f"| **{_cell(str(row['source_name']))}** | {_cell(str(state))}"
            f" | {clock(duration) if duration is not None else '-'}"
            f" | {row['language'] or '-'} | {row['speakers'] if row['speakers'] is not None else '-'}"
            f" | {link} |"
        )
    return "\n".join(lines)
