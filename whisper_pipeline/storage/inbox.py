"""Watching a folder across observations: which recordings are new and finished being written.

Pure bookkeeping over `os.stat`, shared by the inbox sensor and its tests. A file is *stable*
once its size and modification time are unchanged between two observations at least
`settle_s` apart, or once it was last modified more than `stable_age_s` ago (an archive that
was already there). The cursor remembers the last observation of every file still waiting and
a short fingerprint of every file already taken, so a daemon restart loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from whisper_pipeline.storage.intake import ignore_reason

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Observation:
    size_bytes: int
    mtime_ns: int
    observed_at: float  # when this size and mtime were first seen

    def same_file_state(self, other: Observation) -> bool:
        return self.size_bytes == other.size_bytes and self.mtime_ns == other.mtime_ns


def fingerprint(relative_path: str, size_bytes: int, mtime_ns: int) -> str:
    """A short stand-in for "this path with this size and mtime": taken files are remembered
    by it; a modified file gets a new one and is looked at again."""
    raw = f"{relative_path}\0{size_bytes}\0{mtime_ns}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


@dataclass
class InboxCursor:
    """What the sensor keeps between ticks (serialised into the Dagster sensor cursor)."""

    waiting: dict[str, Observation] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "waiting": {
                    path: [o.size_bytes, o.mtime_ns, round(o.observed_at, 3)]
                    for path, o in sorted(self.waiting.items())
                },
                "taken": sorted(self.taken),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> InboxCursor:
        """An empty cursor for a first tick or an unreadable/old cursor: losing it costs one
        extra observation per file, never a duplicate (recording ids decide that)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != CURSOR_VERSION:
                return cls()
            waiting = {
                path: Observation(int(size), int(mtime), float(seen))
                for path, (size, mtime, seen) in data.get("waiting", {}).items()
            }
            return cls(waiting=waiting, taken=set(data.get("taken", [])))
        except (ValueError, TypeError, AttributeError):
            return cls()


@dataclass(frozen=True)
class InboxFile:
    path: Path
    relative_path: str
    size_bytes: int
    mtime_ns: int

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.relative_path, self.size_bytes, self.mtime_ns)


@dataclass
class InboxScan:
    """One observation of the inbox: files ready to take (stable, oldest first), files still
    waiting with the reason, and counts of what was ignored and why."""

    ready: list[InboxFile] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # relative path -> why
    already_taken: int = 0
    ignored: Counter = field(default_factory=Counter)  # reason -> count
    cursor: InboxCursor = field(default_factory=InboxCursor)


def _walk(inbox: Path, ignored: Counter) -> list[InboxFile]:
    files: list[InboxFile] = []
    stack = [inbox]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            ignored["unreadable folder"] += 1
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name.startswith("."):
                    ignored["hidden folder"] += 1
                else:
                    stack.append(Path(entry.path))
                continue
            reason = ignore_reason(entry.name)
            if reason is None and not entry.is_file():
                reason = "not a regular file"
            if reason is not None:
                ignored[reason] += 1
                continue
            try:
                stat = entry.stat()
            except OSError:  # vanished between listing and stat
                continue
            relative = Path(entry.path).relative_to(inbox).as_posix()
            files.append(InboxFile(Path(entry.path), relative, stat.st_size, stat.st_mtime_ns))
    return files


def scan_inbox(
    inbox: Path, cursor: InboxCursor, now: float, settle_s: float, stable_age_s: float
) -> InboxScan:
    """Observe `inbox` once and decide, for every candidate file, ready or still waiting.
    The returned cursor forgets files that are gone."""
    scan = InboxScan()
    files = _walk(inbox, scan.ignored) if inbox.is_dir() else []
    taken_present: set[str] = set()
    for file in files:
        if file.fingerprint in cursor.taken:
            scan.already_taken += 1
            taken_present.add(file.fingerprint)
            continue
        current = Observation(file.size_bytes, file.mtime_ns, now)
        previous = cursor.waiting.get(file.relative_path)
        age_s = now - file.mtime_ns / 1e9
        if previous is not None and previous.same_file_state(current):
            if now - previous.observed_at >= settle_s:
                scan.ready.append(file)
                continue
            scan.cursor.waiting[file.relative_path] = previous
            scan.waiting[file.relative_path] = (
                f"unchanged for {now - previous.observed_at:.0f}s of the {settle_s:g}s settle time"
            )
        elif age_s >= stable_age_s:
            scan.ready.append(file)
        else:
            scan.cursor.waiting[file.relative_path] = current
            scan.waiting[file.relative_path] = (
                "still being written (size or time changed)"
                if previous is not None
                else "new: waiting to see it unchanged"
            )
    scan.ready.sort(key=lambda f: (f.mtime_ns, f.relative_path))
    scan.cursor.taken = taken_present
    return scan


def defer(scan: InboxScan, files: list[InboxFile], reason: str) -> None:
    """Put ready files back to wait for the next tick (cap or time budget reached): their
    observation is kept, so they are ready again at once."""
    for file in files:
        scan.cursor.waiting[file.relative_path] = Observation(
            file.size_bytes,
            file.mtime_ns,
            observed_at=0.0,  # seen settled already
        )
        scan.waiting[file.relative_path] = reason


def mark_taken(scan: InboxScan, file: InboxFile) -> None:
    scan.cursor.taken.add(file.fingerprint)
    scan.cursor.waiting.pop(file.relative_path, None)
