"""A DuckDB connection that can read the warehouse and nothing else, and write nowhere.

`whisper-pipeline query` runs whatever SQL a user types. Rather than guessing from statement
types what is safe (EXPLAIN ANALYZE COPY, PRAGMA import_database and table functions such as
read_text all slip through such a list), the connection is closed off with DuckDB's own
controls: the warehouse folder is reachable only through a read-only file system registered
under `warehouse://`, every other file access is off (`enable_external_access=false`), and the
configuration is locked so no statement can turn it back on. Tables a query creates live in
memory and vanish with the connection.

A statement also runs within limits (`QueryLimits`): a time limit, a memory limit, and spill
files capped in size inside the sandbox's own scratch folder. And it runs in a forked child
process (`run_isolated`), because a few DuckDB statements refused deep inside the engine abort
the whole process (`CALL enable_logging(storage='file', ...)` in 1.5.5): the parent turns such
an end, a time limit, Ctrl+C and SIGTERM into one clear line and removes the scratch folder."""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import duckdb
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

PROTOCOL = "warehouse"
REFUSED = "the warehouse is read-only in a query"


def refusal(detail: str) -> str:
    """The one line a refused statement prints."""
    return (
        "query refused: `query` reads the warehouse views and nothing else; it writes no file"
        f" and reads none outside the warehouse ({detail})"
    )


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise PermissionError(REFUSED)


class ReadOnlyFolder(DirFileSystem):
    """`warehouse://<table>/<file>` for the files under one folder: reads only. Paths that
    climb out of the folder are refused by DirFileSystem itself."""

    protocol = PROTOCOL

    def __init__(self, root: Path, **kwargs: object) -> None:
        super().__init__(path=str(root), fs=LocalFileSystem(), **kwargs)

    def _join(self, path):
        """Every path the file system is given: one that climbs out is refused (also where
        the installed fsspec would not check)."""
        if isinstance(path, str) and ".." in PurePosixPath(self._strip_protocol(path)).parts:
            raise PermissionError(f"{REFUSED}: {path} is outside the warehouse")
        return super()._join(path)

    def open(self, path: str, mode: str = "rb", *args: object, **kwargs: object):
        if any(flag in mode for flag in "wax+"):
            raise PermissionError(f"{REFUSED}: cannot write {PROTOCOL}://{path}")
        return super().open(path, mode, *args, **kwargs)

    _open = open
    rm = rm_file = rmdir = mkdir = makedirs = mv = cp_file = put_file = _refuse
    touch = pipe_file = _refuse


def warehouse_url(relative: str) -> str:
    return f"{PROTOCOL}://{relative}"


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use (docs/querying.md). Sizes are DuckDB's ("2GB", "500MB")."""

    timeout_s: float = 60.0
    memory: str = "2GB"
    spill: str = "4GB"


DEFAULT_LIMITS = QueryLimits()


SCRATCH_PREFIX = "query-"  # scratch folders are <scratch root>/query-<pid>-<random>


@contextmanager
def scratch_folder(scratch_root: Path) -> Iterator[Path]:
    """A private folder for one query's spill files, removed on every exit; folders that
    queries of dead processes left behind (a kill -9) are removed first."""
    scratch_root.mkdir(parents=True, exist_ok=True)
    remove_abandoned_scratch(scratch_root)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=scratch_root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_scratch(scratch_root: Path) -> None:
    for folder in scratch_root.glob(f"{SCRATCH_PREFIX}*"):
        match = re.match(rf"{SCRATCH_PREFIX}(\d+)-", folder.name)
        if match and not _process_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def read_only_connection(
    root: Path,
    scratch: Path,
    extensions: Sequence[Path] = (),
    limits: QueryLimits = DEFAULT_LIMITS,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB that reads `root` through `warehouse://` and touches no other file
    (the `extensions` files are loaded first), within `limits`; spill files go to `scratch`
    (a folder from `scratch_folder`)."""
    connection = duckdb.connect(":memory:")
    try:
        for extension in extensions:
            connection.execute(f"LOAD {sql_string(str(extension))}")
        connection.register_filesystem(ReadOnlyFolder(root))
        connection.execute(f"SET temp_directory = {sql_string(str(scratch))}")
        connection.execute(f"SET memory_limit = {sql_string(limits.memory)}")
        connection.execute(f"SET max_temp_directory_size = {sql_string(limits.spill)}")
        connection.execute(f"SET allowed_directories = ['{PROTOCOL}://']")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("SET autoload_known_extensions = false")
        connection.execute("SET lock_configuration = true")
        yield connection
    finally:
        connection.close()


class TimeLimit:
    """Interrupts a connection's statement once it has run `seconds` (DuckDB then raises
    duckdb.InterruptException); `reached` tells that interrupt from a Ctrl+C."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self.reached = False
        self._connection = connection
        self._timer = threading.Timer(seconds, self._interrupt)
        self._timer.daemon = True

    def _interrupt(self) -> None:
        self.reached = True
        self._connection.interrupt()

    def __enter__(self) -> TimeLimit:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()


@dataclass(frozen=True)
class Outcome:
    """What a query printed and its exit code (2: refused or failed)."""

    code: int
    out: str = ""
    err: str = ""


class Terminated(Exception):
    """SIGTERM arrived while a query ran."""


ENGINE_ERRORS = "duckdb-stderr.log"  # in the scratch folder: what the engine printed on abort
KILL_GRACE_S = 5.0  # past its time limit, a child that does not stop is killed


def run_isolated(work: Callable[[], Outcome], scratch: Path, limit_s: float) -> Outcome:
    """`work()` in a forked child process. The child's abnormal end (DuckDB aborting on a
    refused statement) becomes a refusal, a child that outlives its time limit is killed, and
    Ctrl+C (KeyboardInterrupt) or SIGTERM (Terminated) kill the child before they propagate."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, sender, scratch / ENGINE_ERRORS))
    with _sigterm_raises():
        child.start()
        sender.close()
        try:
            outcome = _wait(child, receiver, limit_s + KILL_GRACE_S)
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()
    if outcome is not None:
        return outcome
    if child.exitcode is None or child.exitcode >= 0:
        stopped = f"the query's process ended with exit code {child.exitcode}"
    else:
        stopped = f"the query's process was stopped by {signal.Signals(-child.exitcode).name}"
    message = _engine_message(scratch / ENGINE_ERRORS)
    return Outcome(2, err=refusal(message) if message else f"query failed: {stopped}")


def _wait(child, receiver, limit_s: float) -> Outcome | None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if receiver.poll(0.05):
            try:
                return receiver.recv()
            except EOFError:  # the child ended without a word
                return None
        if not child.is_alive() and not receiver.poll(0):
            return None
    return Outcome(2, err=f"query stopped: it ran past the time limit of {limit_s:g} s")


def _child(work: Callable[[], Outcome], sender, engine_errors: Path) -> None:
    """In the child: Ctrl+C is the parent's to handle; what the engine writes to the standard
    error stream (its abort message) goes to a file the parent reads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.disable()  # an abort is reported by the parent, in one line
    log = os.open(engine_errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 2)
    try:
        outcome = work()
    except BaseException as error:  # never a traceback: one line
        outcome = Outcome(2, err=f"query failed: {type(error).__name__}: {error}")
    sender.send(outcome)
    sender.close()


def _engine_message(path: Path) -> str | None:
    """DuckDB's abort message ('terminate called after throwing ... what(): {json}') as the
    refusal it was."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        start = line.find("{")
        if "what()" in line and start >= 0:
            try:
                return str(json.loads(line[start:])["exception_message"])
            except (ValueError, KeyError, TypeError):
                return line[start:]
    return None


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread while the body runs, so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_refusal(error: BaseException) -> bool:
    """A DuckDB error that says the sandbox stopped the statement (not a mistake in the SQL)."""
    text = str(error)
    return (
        isinstance(error, duckdb.PermissionException)
        or REFUSED in text
        or "configuration has been locked" in text
    )


def sql_string(value: str) -> str:
    """`value` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
