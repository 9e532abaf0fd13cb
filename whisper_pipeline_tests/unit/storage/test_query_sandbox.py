"""`whisper-pipeline query` is read-only for real: statements that try to write anywhere or read
outside the warehouse are refused by DuckDB's own controls, and no file changes."""

import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whisper_pipeline import cli
from whisper_pipeline.cli.results import run_query
from whisper_pipeline.storage.query_sandbox import DEFAULT_LIMITS, scratch_folder
from whisper_pipeline.storage.warehouse import DATABASE_NAME, Warehouse, segment_rows
from whisper_pipeline_tests.unit.storage.test_warehouse import SEGMENTS


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A pipeline home with a warehouse holding one recording and its DuckDB file, a secret
    file outside the warehouse, and the working directory inside the warehouse."""
    home = tmp_path / "home"
    warehouse = Warehouse(home / "warehouse")
    warehouse.write("segments", "rec-a", segment_rows("rec-a", SEGMENTS))
    warehouse.refresh_database()
    (tmp_path / "secret.csv").write_text("user,password\nana,hunter2\n")
    monkeypatch.chdir(warehouse.root)
    monkeypatch.setenv("WHISPER_PIPELINE_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


def scratch_left(home: Path) -> list[str]:
    return sorted(path.name for path in (home / "tmp").glob("query-*"))


def snapshot_scratch(home: Path, tmp_path: Path) -> dict[str, str]:
    """The scratch folders' own files (none are expected)."""
    return {
        key: value
        for key, value in snapshot(tmp_path).items()
        if key.startswith(str((home / "tmp").relative_to(tmp_path)))
    }


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with a hash of its content."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def attempts(tmp_path: Path, home: Path) -> list[str]:
    """Writing to and reading from places outside and inside the warehouse, every way DuckDB
    offers, each also wrapped in EXPLAIN ANALYZE."""
    warehouse = home / "warehouse"
    parquet = next((warehouse / "segments").glob("rec-a.parquet"))
    targets = [
        str(tmp_path / "out.csv"),
        str(parquet),  # overwrite a warehouse file
        str(warehouse / DATABASE_NAME),  # overwrite the database people open
        str(warehouse / "segments" / "new.parquet"),  # a new file inside the warehouse
        "relative.csv",
        ".tmp/x.csv",
        "warehouse://segments/rec-a.parquet",
        "warehouse://new.parquet",
    ]
    writes = [
        *(f"COPY (SELECT 'x' AS a) TO '{t}'" for t in targets),
        *(f"COPY segments TO '{t}' (FORMAT parquet)" for t in targets),
        f"EXPORT DATABASE '{tmp_path / 'exported'}'",
        f"EXPORT DATABASE '{warehouse / 'exported'}'",
        f"ATTACH '{tmp_path / 'new.duckdb'}' AS x",
        f"ATTACH '{warehouse / DATABASE_NAME}' AS x",
        f"PRAGMA import_database('{tmp_path}')",
        f"IMPORT DATABASE '{tmp_path}'",
        "INSTALL fts",
        "LOAD fts",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
        "RESET enable_external_access",
        "SET temp_directory = '/tmp'",
        "PRAGMA enable_profiling='json'",
        f"SET profiling_output = '{tmp_path / 'profile.json'}'",
    ]
    secret = tmp_path / "secret.csv"
    reads = [
        *(
            f"SELECT * FROM {function}('{path}')"
            for function, path in itertools.product(
                ("read_csv", "read_text", "read_blob", "glob", "read_json", "read_parquet"),
                (str(secret), "/etc/passwd", "../../secret.csv", "warehouse://../secret.csv"),
            )
        ),
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM read_parquet('{parquet}')",  # the warehouse, but not through the views
        f"COPY segments FROM '{secret}'",
        "SELECT * FROM sniff_csv('/etc/passwd')",
    ]
    return [*writes, *reads, *(f"EXPLAIN ANALYZE {sql}" for sql in writes + reads)]


def test_query_refuses_every_write_and_every_read_outside_the_warehouse(tmp_path, home):
    """Statement by statement as `query` runs them, here in this process (the command runs
    the same in a child of its own: tested below)."""
    before = snapshot(tmp_path)
    allowed = []
    warehouse = Warehouse(home / "warehouse")
    for sql in attempts(tmp_path, home):
        with scratch_folder(warehouse.scratch_root) as scratch:
            outcome = run_query(warehouse, sql, "csv", DEFAULT_LIMITS, scratch)
        code, err = outcome.code, outcome.err
        if code == 0:
            allowed.append(sql)
            continue
        assert code == 2, (sql, err)
        assert err.startswith(("query refused", "query failed")), (sql, err)
        assert "Traceback" not in err.splitlines()[0], (sql, err)
    assert allowed == []
    # nothing created or changed, no spill left: the scratch folders are the home's tmp/
    assert snapshot(tmp_path) == {**before, **snapshot_scratch(home, tmp_path)}
    assert scratch_left(home) == []


def test_refusals_say_why(home, capsys, tmp_path):
    for sql in (
        f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
        "COPY (SELECT 1) TO 'warehouse://segments/rec-a.parquet'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
    ):
        assert cli.main(["query", sql]) == 2
        err = capsys.readouterr().err
        assert err.startswith("query refused: `query` reads the warehouse views"), err


def test_views_and_in_memory_work_still_run(home, capsys):
    assert cli.main(["query", "--format", "csv", "SELECT text FROM segments"]) == 0
    assert capsys.readouterr().out.splitlines() == ["text", "Hi there."]
    sql = "CREATE TABLE t AS SELECT count(*) AS n FROM words; SELECT n FROM t"
    assert cli.main(["query", "--format", "csv", sql]) == 0  # lives in memory only
    assert capsys.readouterr().out.splitlines() == ["n", "0"]


def test_a_damaged_database_file_is_rebuilt(home):
    warehouse = Warehouse(home / "warehouse")
    warehouse.database_path.write_bytes(b"PAR1 not a database" * 100)
    assert warehouse.refresh_database() is True
    import duckdb

    connection = duckdb.connect(str(warehouse.database_path), read_only=True)
    try:
        assert connection.execute("SELECT text FROM segments").fetchall() == [("Hi there.",)]
    finally:
        connection.close()
    kept = list(warehouse.root.glob(f"{DATABASE_NAME}.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"PAR1 not a database")


# Statements that reach DuckDB's logging, secrets, settings and extensions: some of them are
# refused deep in the engine, where 1.5.5 aborts the process (enable_logging to a file).
ENGINE_ATTEMPTS = [
    "CALL enable_logging(storage='file', storage_path='/tmp/whisper-query-log')",
    "CALL enable_logging(storage='file', storage_path='warehouse://log')",
    "CALL enable_logging(level='trace', storage='stdout')",
    "SET logging_storage = 'file'",
    "SET logging_level = 'trace'",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "SELECT * FROM duckdb_secrets()",
    "DROP PERSISTENT SECRET p",
    "SET secret_directory = '/tmp'",
    "SET memory_limit = '1TB'",
    "SET max_temp_directory_size = '1TB'",
    "SET temp_directory = ''",
    "SET threads = 64",
    "RESET ALL",
    "SET extension_directory = '/tmp'",
    "SET allow_unsigned_extensions = true",
    "FORCE INSTALL fts FROM core",
    "LOAD '/tmp/evil.duckdb_extension'",
    "SELECT * FROM duckdb_extensions() WHERE extension_name = 'fts' AND installed",
    "CALL pragma_version()",
    "SELECT current_setting('temp_directory')",
]


@pytest.mark.parametrize("sql", ENGINE_ATTEMPTS)
def test_logging_secrets_settings_and_extensions_never_abort(home, capsys, sql, tmp_path):
    code = cli.main(["query", sql])
    err = capsys.readouterr().err
    assert code in (0, 2), (sql, code, err)
    if code == 2:
        assert err.startswith(("query refused", "query failed")), (sql, err)
        assert len(err.strip().splitlines()) == 1, (sql, err)
    assert not (tmp_path / "whisper-query-log").exists()
    assert not list((home / "warehouse").glob("log*"))
    assert scratch_left(home) == []


def test_an_aborting_statement_is_a_clean_refusal(home, capsys):
    """The statement that aborted the whole process: now its own process ends, this one reads
    the engine's reason."""
    sql = "CALL enable_logging(storage='file', storage_path='/tmp/whisper-query-log')"
    assert cli.main(["query", sql]) == 2
    err = capsys.readouterr().err
    assert err.startswith("query refused:") and "file system operations are disabled" in err
    assert cli.main(["query", "--format", "csv", "SELECT text FROM segments"]) == 0


def test_a_statement_stops_at_its_time_limit(home, capsys):
    started = time.monotonic()
    code = cli.main(
        ["query", "--timeout", "1", "SELECT count(*) FROM range(1000000) a, range(1000000) b"]
    )
    took = time.monotonic() - started
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "query stopped: it ran past the time limit of 1 s (--timeout)"
    )
    assert took < 8, took
    assert scratch_left(home) == []


def test_memory_and_spill_are_bounded(home, capsys):
    sql = (
        "SELECT range % 10000000 AS k, count(*) FROM range(30000000)"
        " GROUP BY k ORDER BY 2 DESC LIMIT 1"
    )
    code = cli.main(["query", "--memory-limit", "30MB", "--spill-limit", "1MB", sql])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("query stopped: Out of Memory Error"), err
    assert err.rstrip().endswith("(--memory-limit 30MB, --spill-limit 1MB)"), err
    assert scratch_left(home) == []


def test_scratch_that_a_killed_query_left_is_removed(home, capsys):
    abandoned = home / "tmp" / "query-999999999-x"
    abandoned.mkdir(parents=True)
    (abandoned / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1000)
    assert cli.main(["query", "SELECT 1"]) == 0
    assert scratch_left(home) == []


@pytest.mark.parametrize(
    ("sent", "code", "said"),
    [
        (signal.SIGINT, 130, "query interrupted (Ctrl+C)"),
        (signal.SIGTERM, 143, "query stopped (SIGTERM)"),
    ],
)
def test_a_signal_stops_the_query_with_one_line_and_no_scratch_left(home, sent, code, said):
    """As in a terminal: the signal goes to the command's whole process group."""
    command = [
        sys.executable,
        "-m",
        "whisper_pipeline.cli",
        "query",
        "SELECT count(*) FROM range(1000000) a, range(1000000) b",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        begun = home / "tmp"
        while not list(begun.glob("query-*/duckdb-stderr.log")):  # its own process has begun
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
        started = time.monotonic()
        os.killpg(process.pid, sent)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, err
    assert err.strip().splitlines() == [said]
    assert time.monotonic() - started < 5
    assert scratch_left(home) == []
