"""Is a run's worker process still there, and stopping it: by pid, on this host."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def hostname() -> str:
    return socket.gethostname()


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


def stop_process(pid: int, start_ticks: str | None, grace_s: float, graceful: bool = True) -> str:
    """Stop a process: SIGTERM (and SIGCONT, in case it is stopped), then SIGKILL after
    `grace_s`; or SIGKILL straight away. Returns how it ended."""
    if not is_running(pid, start_ticks):
        return "already gone"
    try:
        if graceful:
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                if not is_running(pid, start_ticks):
                    return "terminated"
                time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "terminated"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and is_running(pid, start_ticks):
        time.sleep(0.1)
    return "killed"
