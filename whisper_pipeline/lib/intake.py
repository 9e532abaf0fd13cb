"""Which files are recordings: audio/video extensions, no hidden or partial downloads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from whisper_pipeline.lib.audio import AUDIO_EXTENSIONS

TEMPORARY_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download", ".swp")


def is_candidate(path: Path) -> bool:
    """An audio or video file that is not hidden, temporary or an editor's lock file."""
    name = path.name
    if name.startswith((".", "~$", "~")) or name.lower().endswith(TEMPORARY_SUFFIXES):
        return False
    return path.suffix.lower() in AUDIO_EXTENSIONS


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
