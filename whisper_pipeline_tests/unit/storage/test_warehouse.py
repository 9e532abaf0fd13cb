import subprocess
import sys
from datetime import UTC, datetime

import duckdb
import pytest

from whisper_pipeline.core.records import Diarization, Segment, Word
from whisper_pipeline.storage.warehouse import (
    VIEW_NAMES,
    Warehouse,
    embedding_rows,
    segment_rows,
    word_rows,
)

SEGMENTS = [Segment(0.0, 1.0, "Hi there.", (Word(0.0, 0.4, "Hi"), Word(0.5, 1.0, "there.")), "A")]


def test_views_exist_and_are_empty_before_any_recording(tmp_path):
    warehouse = Warehouse(tmp_path)
    with warehouse.query_connection() as con:
        for view in VIEW_NAMES:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
        columns = {row[0] for row in con.execute("DESCRIBE segments").fetchall()}
    assert {"recording_id", "start_s", "end_s", "duration_s", "speaker", "text"} <= columns


def test_rewriting_a_recording_replaces_its_rows(tmp_path):
    warehouse = Warehouse(tmp_path)
    for _ in range(3):
        warehouse.write("segments", "rec-a", segment_rows("rec-a", SEGMENTS))
        warehouse.write("words", "rec-a", word_rows("rec-a", SEGMENTS))
    warehouse.write("words", "rec-b", word_rows("rec-b", SEGMENTS))
    with warehouse.query_connection() as con:
        assert con.execute("SELECT count(*) FROM segments").fetchone() == (1,)
        assert con.execute(
            "SELECT recording_id, count(*) FROM words GROUP BY ALL ORDER BY 1"
        ).fetchall() == [("rec-a", 2), ("rec-b", 2)]


def test_no_temporary_files_are_left_behind(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.write("segments", "rec-a", segment_rows("rec-a", SEGMENTS))
    leftovers = [p.name for p in (tmp_path / "segments").iterdir() if p.suffix != ".parquet"]
    assert leftovers == []


def test_failures_are_history_rows(tmp_path):
    warehouse = Warehouse(tmp_path)
    for run_id in ("run1", "run2"):
        warehouse.add_failure(
            {
                "recording_id": "rec-a",
                "source_name": "a.wav",
                "step": "transcribe",
                "error": "Step transcribe failed after 3 segments: boom",
                "error_type": "RuntimeError",
                "segments": 3,
                "run_id": run_id,
                "failed_at": datetime.now(UTC),
            }
        )
    with warehouse.query_connection() as con:
        rows = con.execute("SELECT run_id, step, segments FROM failures ORDER BY run_id").fetchall()
    assert rows == [("run1", "transcribe", 3), ("run2", "transcribe", 3)]


def test_a_user_holding_the_database_open_never_blocks_the_pipeline(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.refresh_database()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]);"
            "print('open', flush=True); time.sleep(30)",
            str(warehouse.database_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        warehouse.write("segments", "rec-a", segment_rows("rec-a", SEGMENTS))
        assert warehouse.refresh_database() is True  # views up to date: the file is not opened
        assert warehouse.refresh_database(force=True) is False  # locked: skipped, not failed
        with warehouse.query_connection() as con:
            assert con.execute("SELECT count(*) FROM segments").fetchone() == (1,)
    finally:
        holder.kill()
        holder.wait()
    con = duckdb.connect(str(warehouse.database_path), read_only=True)
    try:
        assert con.execute("SELECT text FROM segments").fetchall() == [("Hi there.",)]
    finally:
        con.close()


def test_a_home_written_before_a_column_existed_gets_it_as_null(tmp_path):
    """Upgrading keeps old rows queryable: a table folder whose files predate a column (here
    recording_files.channel_layout) shows the column, NULL for the old rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from whisper_pipeline.storage.warehouse import TABLES

    warehouse = Warehouse(tmp_path / "warehouse")
    warehouse.ensure_layout()
    old_schema = pa.schema([f for f in TABLES["recording_files"] if f.name != "channel_layout"])
    folder = warehouse.table_dir("recording_files")
    for schema_file in folder.glob("*.parquet"):
        pq.write_table(old_schema.empty_table(), schema_file)
    row = {name: None for name in old_schema.names} | {"recording_id": "old-1", "channels": 2}
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), folder / "old-1.parquet")
    with warehouse.query_connection() as con:
        rows = con.execute(
            "SELECT recording_id, channels, channel_layout FROM recordings"
        ).fetchall()
    assert rows == [("old-1", 2, None)]


def test_voice_vectors_of_both_encoders_are_labelled_and_never_compared(tmp_path):
    """A recording diarized before CAM++ keeps its 256-d Resemblyzer vectors (a rename rewrites
    its rows from the stored diarization): each row says which encoder made it, and the
    documented query, joined on encoder, never compares the two (DuckDB refuses lists of
    different lengths)."""
    warehouse = Warehouse(tmp_path)
    for recording_id, dimension in (("old", 256), ("new", 192), ("newer", 192)):
        diarization = Diarization(voice_vectors={"SPEAKER_00": (0.1,) * dimension})
        rows = embedding_rows(recording_id, diarization)
        warehouse.write("speaker_embeddings", recording_id, rows)
    query = """
        SELECT a.recording_id, b.recording_id FROM speaker_embeddings a
        JOIN speaker_embeddings b ON b.recording_id <> a.recording_id{join}
        WHERE list_cosine_similarity(a.vector, b.vector) >= 0.65 ORDER BY ALL
    """
    with warehouse.query_connection() as con:
        encoders = "SELECT recording_id, encoder FROM speaker_embeddings ORDER BY ALL"
        assert con.execute(encoders).fetchall() == [
            ("new", "campplus-192"),
            ("newer", "campplus-192"),
            ("old", "resemblyzer-256"),
        ]
        same = con.execute(query.format(join=" AND b.encoder = a.encoder")).fetchall()
        assert same == [("new", "newer"), ("newer", "new")]
        with pytest.raises(duckdb.Error):
            con.execute(query.format(join="")).fetchall()
