"""A DuckDB connection that can read the warehouse and nothing else, and write nowhere.

`whisper-pipeline query` runs whatever SQL a user types. Rather than guessing from statement
types what is safe (EXPLAIN ANALYZE COPY, PRAGMA import_database and table functions such as
read_text all slip through such a list), the connection is closed off with DuckDB's own
controls: the warehouse folder is reachable only through a read-only file system registered
under `warehouse://`, every other file access is off (`enable_external_access=false`), and the
configuration is locked so no statement can turn it back on. Tables a query creates live in
memory and vanish with the connection."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import duckdb
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

PROTOCOL = "warehouse"
REFUSED = "the warehouse is read-only in a query"


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


@contextmanager
def read_only_connection(
    root: Path, extensions: Sequence[Path] = ()
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB that reads `root` through `warehouse://` and touches no other file
    (the `extensions` files are loaded first). Spilling goes to a private temporary folder,
    removed afterwards."""
    spill = tempfile.mkdtemp(prefix="whisper-query-")
    connection = duckdb.connect(":memory:")
    try:
        for extension in extensions:
            connection.execute(f"LOAD {sql_string(str(extension))}")
        connection.register_filesystem(ReadOnlyFolder(root))
        connection.execute(f"SET temp_directory = {sql_string(spill)}")
        connection.execute(f"SET allowed_directories = ['{PROTOCOL}://']")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("SET autoload_known_extensions = false")
        connection.execute("SET lock_configuration = true")
        yield connection
    finally:
        connection.close()
        shutil.rmtree(spill, ignore_errors=True)


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
