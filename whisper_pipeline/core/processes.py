"""Is a run's worker process still there: by pid (and start time), on this host."""

from __future__ import annotations

import os
import socket
from pathlib import Path

_worker_name: list[str] = []  # the run worker's node name, once this process is one


def hostname() -> str:
    return socket.gethostname()


def set_worker_name(name: str) -> None:
    """This process executes runs as the worker `name` (e.g. a Celery node, gpu0@host)."""
    _worker_name[:] = [name]


def worker_name() -> str | None:
    return _worker_name[0] if _worker_name else None


def this_process_tags(pid_tag: str, start_tag: str, host_tag: str) -> dict[str, str]:
    """Run tags that identify this process (pid, its start time where known, host), so another
    process can tell later whether it is still there."""
    pid = os.getpid()
    tags = {pid_tag: str(pid), host_tag: hostname()}
    start = process_start_ticks(pid)
    if start is not None:
        tags[start_tag] = start
    return tags


def process_start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), which tells a process
    apart from a later one that reuses its pid; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def is_running(pid: int, start_ticks: str | None = None) -> bool:
    """True if `pid` exists (and, when known, is the same process that recorded its start)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    if start_ticks is not None:
        current = process_start_ticks(pid)
        if current is not None and current != start_ticks:
            return False  # the pid was reused by another process
        state = _state(pid)
        if state == "Z":  # a zombie has finished; only its parent has not reaped it
            return False
    return True


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from each process's parent in /proc/N/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
