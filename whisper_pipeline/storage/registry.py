"""Which file each recording id stands for: written at intake, read by every step."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from whisper_pipeline.core.errors import RecordingError
from whisper_pipeline.core.fileio import write_text_atomic
from whisper_pipeline.core.recording_id import content_hash, make_recording_id, slugify


@dataclass(frozen=True)
class RegisteredRecording:
    recording_id: str
    source_path: str
    content_sha256: str
    size_bytes: int
    mtime_ns: int
    registered_at: str
    # a half-copied earlier version of the same file (its bytes are the start of this one's)
    supersedes: tuple[str, ...] = ()
    superseded_by: str | None = None
    # the file a symbolic link pointed at when it was registered (the link's name is the name)
    link_target: str | None = None

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
        when the registered file is gone (moved or deleted). A symbolic link is registered
        under the name the user gave it, its target noted."""
        path = Path(os.path.abspath(path))
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
            link_target=str(path.resolve()) if path.is_symlink() else None,
        )
        partial = self._partial_versions(entry)
        entry = replace(entry, supersedes=tuple(old.recording_id for old in partial))
        self._write(entry)
        for old in partial:
            self._write(replace(old, superseded_by=recording_id))
        return entry

    def _write(self, entry: RegisteredRecording) -> None:
        write_text_atomic(
            self._path(entry.recording_id), json.dumps(asdict(entry), indent=2, default=list)
        )

    def _partial_versions(self, entry: RegisteredRecording) -> list[RegisteredRecording]:
        """Recordings registered from the same path whose content is the start of this one's:
        the file was registered while it was still being copied or written."""
        found = []
        same_name = f"{slugify(Path(entry.source_path).stem)}-"  # ids of this file's versions
        for recording_id in self.ids():
            if recording_id == entry.recording_id or not recording_id.startswith(same_name):
                continue
            old = self.get(recording_id)
            if (
                old.source_path == entry.source_path
                and old.superseded_by is None
                and 0 < old.size_bytes < entry.size_bytes
                and content_hash(Path(entry.source_path), limit_bytes=old.size_bytes)
                == old.content_sha256
            ):
                found.append(old)
        return found

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

    def forget(self, recording_id: str) -> None:
        """The recording is no longer registered (deleted through the API)."""
        self._path(recording_id).unlink(missing_ok=True)

    def get(self, recording_id: str) -> RegisteredRecording:
        path = self._path(recording_id)
        if not path.exists():
            raise KeyError(
                f"recording {recording_id!r} is not registered in {self.root}; add it with "
                "`whisper-pipeline run FILE` or drop the file into the inbox"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        data["supersedes"] = tuple(data.get("supersedes", ()))
        return RegisteredRecording(**data)

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
