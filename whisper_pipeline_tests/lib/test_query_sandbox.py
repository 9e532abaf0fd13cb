"""`whisper-pipeline query` is read-only for real: statements that try to write anywhere or read
outside the warehouse are refused by DuckDB's own controls, and no file changes."""

import hashlib
import itertools
import os
import tempfile
from pathlib import Path

import pytest

from whisper_pipeline import cli
from whisper_pipeline.lib.warehouse import DATABASE_NAME, Warehouse, segment_rows
from whisper_pipeline_tests.lib.test_warehouse import SEGMENTS


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


def test_query_refuses_every_write_and_every_read_outside_the_warehouse(tmp_path, home, capsys):
    before = snapshot(tmp_path)
    allowed = []
    for sql in attempts(tmp_path, home):
        code = cli.main(["query", sql])
        err = capsys.readouterr().err
        if code == 0:
            allowed.append(sql)
            continue
        assert code == 2, (sql, err)
        assert err.startswith(("query refused", "query failed")), (sql, err)
        assert "Traceback" not in err.splitlines()[0], (sql, err)
    assert allowed == []
    assert snapshot(tmp_path) == before  # nothing created, nothing changed, no spill left
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("whisper-query-")]


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
