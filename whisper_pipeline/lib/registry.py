"""Which file each recording id stands for: written at intake, read by every step."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from whisper_pipeline.lib.errors import RecordingError
from whisper_pipeline.lib.fileio import write_text_atomic
from whisper_pipeline.lib.recording_id import content_hash, make_recording_id


@dataclass(frozen=True)
class RegisteredRecording:
    recording_id: str
    source_path: str
    content_sha256: str
    size_bytes: int
    mtime_ns: int
    registered_at: str

    @property
    def source_name(self) -> str:
        return Path(self.source_path).name


class RecordingRegistry:
    """One JSON file per recording under `root`; safe for concurrent writers of different ids."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, recording_id: str) -> Path:
        return self.root / f"{recording_id}.json"

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.stem for p in self.root.glob("*.json"))

    def register(self, path: Path, known_ids: list[str] | None = None) -> RegisteredRecording:
        """Register `path` (hashing its content) and return its entry. A file whose content is
        already registered keeps that recording's id; the entry points at the newest path only
        when the registered file is gone (moved or deleted)."""
        path = Path(path).resolve()
        if not path.is_file():
            raise RecordingError(str(path), "not a file")
        stat = path.stat()
        sha256 = content_hash(path)
        recording_id = make_recording_id(
            path, sha256, self.ids() if known_ids is None else known_ids
        )
        existing = self._entry_if_source_present(recording_id, sha256)
        if existing is not None:
            return existing  # a renamed copy: the recording keeps its original file
        entry = RegisteredRecording(
            recording_id=recording_id,
            source_path=str(path),
            content_sha256=sha256,
            size_bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            registered_at=datetime.now(UTC).isoformat(),
        )
        write_text_atomic(self._path(recording_id), json.dumps(asdict(entry), indent=2))
        return entry

    def _entry_if_source_present(
        self, recording_id: str, sha256: str
    ) -> RegisteredRecording | None:
        try:
            entry = self.get(recording_id)
        except KeyError:
            return None
        source = Path(entry.source_path)
        if entry.content_sha256 != sha256 or not source.is_file():
            return None
        stat = source.stat()
        unchanged = (stat.st_size, stat.st_mtime_ns) == (entry.size_bytes, entry.mtime_ns)
        return entry if unchanged else None

    def get(self, recording_id: str) -> RegisteredRecording:
        path = self._path(recording_id)
        if not path.exists():
            raise KeyError(
                f"recording {recording_id!r} is not registered in {self.root}; add it with "
                "`whisper-pipeline run FILE` or drop the file into the inbox"
            )
        return RegisteredRecording(**json.loads(path.read_text(encoding="utf-8")))

    def check_unchanged(self, entry: RegisteredRecording) -> Path:
        """The source file, provided it is still there with the registered content."""
        path = Path(entry.source_path)
        if not path.exists():
            raise RecordingError(
                entry.source_path, "file not found", "it was moved or deleted after registration"
            )
        stat = path.stat()
        if stat.st_size != entry.size_bytes or (
            stat.st_mtime_ns != entry.mtime_ns and content_hash(path) != entry.content_sha256
        ):
            raise RecordingError(
                entry.source_path,
                "file changed after registration",
                "a changed file is a new version: register it again to process it",
            )
        return path
