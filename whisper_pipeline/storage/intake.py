"""Which files are recordings: audio/video extensions, no hidden or partial downloads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from whisper_pipeline.inference.audio import AUDIO_EXTENSIONS

TEMPORARY_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download", ".swp")


def ignore_reason(name: str) -> str | None:
    """Why a file found in a folder is not a recording to take, or None when it is one."""
    if name.startswith("."):
        return "hidden"
    if name.startswith("~") or name.lower().endswith(TEMPORARY_SUFFIXES):
        return "temporary or partial download"
    if Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
        return "not an audio or video extension"
    return None


def is_candidate(path: Path) -> bool:
    """An audio or video file that is not hidden, temporary or an editor's lock file."""
    return ignore_reason(path.name) is None


def find_recordings(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly (whatever their extension: processing will judge them), and the
    candidate files below named folders, in a stable order."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                hidden_dir = any(
                    part.startswith(".") for part in found.relative_to(path).parts[:-1]
                )
                if found.is_file() and not hidden_dir and is_candidate(found):
                    yield found
        else:
            yield path
