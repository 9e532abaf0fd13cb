"""The warehouse: one Parquet file per recording and table, and DuckDB views over them.

Runs never open the DuckDB database for writing rows, so concurrent runs and a user's open
DuckDB session never block each other (design decision 1). A file is written under a
temporary name and renamed, so a query sees a recording's old rows or its new ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from whisper_pipeline.core.fileio import exclusive_lock, replace_atomic
from whisper_pipeline.storage.query_sandbox import (
    DEFAULT_LIMITS,
    QueryLimits,
    read_only_connection,
    scratch_folder,
    sql_string,
    warehouse_url,
)

log = logging.getLogger(__name__)

DATABASE_NAME = "whisper.duckdb"
# what made a speaker_embeddings.vector, told by its length: CAM++ (inference/voices.py) since
# 2026-11-25, Resemblyzer before; a rename rewrites a recording's rows from its stored
# diarization, which may be older. Vectors of different encoders are not comparable.
VOICE_ENCODERS = {192: "campplus", 256: "resemblyzer"}
_SCHEMA_FILE = "_schema.parquet"

# One schema per stored table. Units are in the column names.
TABLES: dict[str, pa.Schema] = {
    "recording_files": pa.schema(
        [
            ("recording_id", pa.string()),
            ("source_path", pa.string()),
            ("source_name", pa.string()),
            ("content_sha256", pa.string()),
            ("size_bytes", pa.int64()),
            ("duration_s", pa.float64()),
            ("codec", pa.string()),
            ("sample_rate_hz", pa.int32()),
            ("channels", pa.int32()),
            ("channel_layout", pa.string()),
            ("container", pa.string()),
            ("registered_at", pa.timestamp("us", tz="UTC")),
            ("run_id", pa.string()),
        ]
    ),
    "transcripts": pa.schema(
        [
            ("recording_id", pa.string()),
            ("language", pa.string()),
            ("language_probability", pa.float64()),
            ("languages", pa.string()),
            ("language_note", pa.string()),
            ("model", pa.string()),
            ("device", pa.string()),
            ("word_timestamps", pa.string()),
            ("segments", pa.int32()),
            ("words", pa.int32()),
            ("transcribe_s", pa.float64()),
            ("realtime_factor", pa.float64()),
            ("no_speech", pa.bool_()),
            ("transcribed_at", pa.timestamp("us", tz="UTC")),
            ("run_id", pa.string()),
        ]
    ),
    "segments": pa.schema(
        [
            ("recording_id", pa.string()),
            ("segment_index", pa.int32()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("duration_s", pa.float64()),
            ("speaker", pa.string()),
            ("text", pa.string()),
            ("avg_logprob", pa.float64()),
            ("language", pa.string()),
        ]
    ),
    "words": pa.schema(
        [
            ("recording_id", pa.string()),
            ("segment_index", pa.int32()),
            ("word_index", pa.int32()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("speaker", pa.string()),
            ("word", pa.string()),
            ("probability", pa.float64()),
        ]
    ),
    "speaker_turns": pa.schema(
        [
            ("recording_id", pa.string()),
            ("turn_index", pa.int32()),
            ("speaker", pa.string()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("duration_s", pa.float64()),
            ("backend", pa.string()),
        ]
    ),
    "speaker_embeddings": pa.schema(
        [
            ("recording_id", pa.string()),
            ("speaker", pa.string()),
            ("named", pa.bool_()),
            ("match_similarity", pa.float64()),
            ("dimension", pa.int32()),
            ("vector", pa.list_(pa.float32())),
            ("encoder", pa.string()),
        ]
    ),
    "speaker_stats": pa.schema(
        [
            ("recording_id", pa.string()),
            ("speaker", pa.string()),
            ("talk_time_s", pa.float64()),
            ("talk_share", pa.float64()),
            ("words", pa.int32()),
            ("words_per_minute", pa.float64()),
            ("turns", pa.int32()),
            ("overlap_s", pa.float64()),
            ("language", pa.string()),
        ]
    ),
    "recording_stats": pa.schema(
        [
            ("recording_id", pa.string()),
            ("speakers", pa.int32()),
            ("speech_s", pa.float64()),
            ("silence_ratio", pa.float64()),
            ("overlap_s", pa.float64()),
            ("diarization_backend", pa.string()),
            ("diarization_skipped_reason", pa.string()),
            ("analyzed_at", pa.timestamp("us", tz="UTC")),
            ("run_id", pa.string()),
        ]
    ),
    "daily_totals": pa.schema(
        [
            ("day", pa.date32()),
            ("language", pa.string()),
            ("recordings", pa.int64()),
            ("transcribed", pa.int64()),
            ("audio_hours", pa.float64()),
            ("speech_hours", pa.float64()),
            ("words", pa.int64()),
            ("speakers", pa.int64()),
            ("failures", pa.int64()),
            ("failed_recordings", pa.int64()),
            ("refreshed_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
    "checks": pa.schema(
        [
            ("recording_id", pa.string()),
            ("asset", pa.string()),
            ("check_name", pa.string()),
            ("passed", pa.bool_()),
            ("severity", pa.string()),
            ("description", pa.string()),
            ("checked_at", pa.timestamp("us", tz="UTC")),
            ("run_id", pa.string()),
        ]
    ),
    "failures": pa.schema(
        [
            ("recording_id", pa.string()),
            ("source_name", pa.string()),
            ("step", pa.string()),
            ("error", pa.string()),
            ("error_type", pa.string()),
            ("segments", pa.int32()),
            ("run_id", pa.string()),
            ("failed_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
}

# Views people query. `recordings` joins what each step wrote about a recording.
_TABLE_VIEWS = (
    "segments",
    "words",
    "speaker_turns",
    "speaker_embeddings",
    "speaker_stats",
    "failures",
    "checks",
    "daily_totals",
)
_RECORDINGS_VIEW = """
CREATE OR REPLACE VIEW recordings AS
SELECT f.recording_id, f.source_name, f.source_path, f.content_sha256, f.size_bytes,
       f.duration_s, f.codec, f.sample_rate_hz, f.channels, f.channel_layout, f.container, f.registered_at,
       t.language, t.language_probability, t.languages, t.language_note, t.model, t.device, t.word_timestamps, t.segments, t.words,
       t.transcribe_s, t.realtime_factor, t.no_speech, t.transcribed_at,
       s.speakers, s.speech_s, s.silence_ratio, s.overlap_s, s.diarization_backend,
       s.diarization_skipped_reason, s.analyzed_at
FROM recording_files AS f
LEFT JOIN transcripts AS t USING (recording_id)
LEFT JOIN recording_stats AS s USING (recording_id)
"""

VIEW_NAMES = ("recordings", *_TABLE_VIEWS)

_DUCKDB_MAGIC, _MAGIC_START, _MAGIC_END = b"DUCK", 8, 12  # where DuckDB files say what they are
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class Warehouse:
    """Parquet files under `root/<table>/`, a DuckDB database `root/whisper.duckdb` of views."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def database_path(self) -> Path:
        return self.root / DATABASE_NAME

    def table_dir(self, table: str) -> Path:
        if table not in TABLES:
            raise KeyError(f"unknown warehouse table {table!r}; known: {sorted(TABLES)}")
        return self.root / table

    def ensure_layout(self) -> None:
        """Create each table's folder with an empty file carrying its schema, so every view
        resolves (with zero rows) before the first recording arrives, and has every column of
        this version (a column added since older rows were written reads as NULL for them)."""
        for table, schema in TABLES.items():
            schema_file = self.table_dir(table) / _SCHEMA_FILE
            if not schema_file.exists() or not pq.read_schema(schema_file).equals(schema):
                replace_atomic(
                    schema_file, lambda tmp, s=schema: pq.write_table(s.empty_table(), tmp)
                )

    def _file(self, table: str, name: str) -> Path:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"unsafe warehouse file name {name!r}")
        return self.table_dir(table) / f"{name}.parquet"

    def write(self, table: str, recording_id: str, rows: Sequence[Mapping[str, object]]) -> Path:
        """Replace the recording's rows in `table` with `rows` (atomically; never duplicates)."""
        self.ensure_layout()
        schema = TABLES[table]
        data = pa.Table.from_pylist([dict(row) for row in rows], schema=schema)
        path = self._file(table, recording_id)
        replace_atomic(path, lambda tmp: pq.write_table(data, tmp))
        return path

    def delete(self, table: str, recording_id: str) -> None:
        self._file(table, recording_id).unlink(missing_ok=True)

    def retire(self, recording_id: str) -> None:
        """Take a recording out of the live views (a half-copied version of a file that has
        since arrived whole); its failures stay, as history."""
        for table in TABLES:
            if table in ("failures", "daily_totals"):
                continue
            self.delete(table, recording_id)
        for path in self.table_dir("checks").glob(f"{recording_id}__*.parquet"):
            path.unlink(missing_ok=True)

    def written_at(self, table: str, recording_id: str) -> int | None:
        """When the recording's rows of `table` were last written (ns), None when it has none:
        what a cache of them is keyed on."""
        try:
            return self._file(table, recording_id).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def forget(self, recording_id: str) -> None:
        """Remove every row of a recording, its failures too (it was deleted)."""
        self.retire(recording_id)
        for path in self.table_dir("failures").glob(f"{recording_id}__*.parquet"):
            path.unlink(missing_ok=True)

    def add_failure(self, row: Mapping[str, object]) -> Path:
        """Failures are history: one file per recording, step and run."""
        self.ensure_layout()
        name = f"{row['recording_id']}__{row['step']}__{row['run_id']}"
        data = pa.Table.from_pylist([dict(row)], schema=TABLES["failures"])
        path = self._file("failures", name)
        replace_atomic(path, lambda tmp: pq.write_table(data, tmp))
        return path

    def has_failure(self, recording_id: str, step: str, run_id: str) -> bool:
        return self._file("failures", f"{recording_id}__{step}__{run_id}").exists()

    def create_views(self, connection: duckdb.DuckDBPyConnection, sandboxed: bool = False) -> None:
        """The views over each table's Parquet files: by their paths (the database file people
        open), or through the read-only `warehouse://` file system of a sandboxed query."""
        self.ensure_layout()
        for table in TABLES:
            pattern = (
                warehouse_url(f"{table}/*.parquet")
                if sandboxed
                else str(self.table_dir(table) / "*.parquet")
            )
            connection.execute(
                f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM '
                f"read_parquet({sql_string(pattern)}, union_by_name = true)"
            )
        connection.execute(_RECORDINGS_VIEW)

    @property
    def scratch_root(self) -> Path:
        """Where queries spill (one folder per query, removed after it), beside the warehouse
        rather than in it: nothing a query writes is ever readable as warehouse data."""
        return self.root.parent / "tmp"

    @contextmanager
    def query_connection(
        self,
        extensions: Sequence[Path] = (),
        limits: QueryLimits = DEFAULT_LIMITS,
        scratch: Path | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with the views (and the given extension files loaded) that reads
        the warehouse and writes nowhere but its scratch folder, within `limits` (see
        storage/query_sandbox.py); never takes the database file's lock."""
        self.ensure_layout()
        with ExitStack() as stack:
            if scratch is None:
                scratch = stack.enter_context(scratch_folder(self.scratch_root))
            connection = stack.enter_context(
                read_only_connection(self.root, scratch, extensions, limits)
            )
            self.create_views(connection, sandboxed=True)
            yield connection

    def _views_marker(self) -> Path:
        """A file whose name says which view definitions the database holds."""
        definitions = "\n".join([*TABLES, _RECORDINGS_VIEW, str(self.root.resolve())])
        digest = hashlib.sha256(definitions.encode()).hexdigest()[:16]
        return self.root / f".views-{digest}"

    def refresh_database(self, force: bool = False) -> bool:
        """(Re)create the views in the DuckDB file for people's tools, when they are missing or
        out of date, and rebuild the file when it is damaged (not a DuckDB database: the
        damaged file is kept beside it). Best effort: when a user holds the file open, the views
        already there keep working (they read by glob, so new Parquet files show without a
        refresh). Pipeline processes take turns (a file lock), so none ever sees another's
        half-created database as damaged."""
        marker = self._views_marker()
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.root / ".views.lock"):
            if not force and marker.exists() and self._database_looks_whole():
                return True
            try:
                connection = self._open_database()
            except duckdb.IOException as error:
                log.warning(
                    "DuckDB views not refreshed, %s is in use: %s", self.database_path, error
                )
                return False
            try:
                self.create_views(connection)
            finally:
                connection.close()
            for stale in self.root.glob(".views-*"):
                stale.unlink(missing_ok=True)
            marker.touch()
            return True

    def _database_looks_whole(self) -> bool:
        """The database file is there and starts like a DuckDB database (its magic bytes): a
        file overwritten with something else is caught without opening it, which every run's
        analytics step would otherwise pay for."""
        try:
            with open(self.database_path, "rb") as handle:
                header = handle.read(_MAGIC_END)
        except OSError:
            return False
        return header[_MAGIC_START:_MAGIC_END] == _DUCKDB_MAGIC

    def _open_database(self) -> duckdb.DuckDBPyConnection:
        """The database file for writing views; a damaged one is moved aside and started anew."""
        try:
            return duckdb.connect(str(self.database_path))
        except duckdb.IOException as error:
            if _held_by_another_process(error):
                raise
            damaged = error
        except duckdb.Error as error:
            damaged = error
        aside = self.database_path.with_name(f"{DATABASE_NAME}.damaged-{os.getpid()}")
        log.warning(
            "%s is damaged (%s): rebuilt; the damaged file is kept as %s",
            self.database_path,
            damaged,
            aside,
        )
        with contextlib.suppress(FileNotFoundError):
            self.database_path.replace(aside)
        Path(f"{self.database_path}.wal").unlink(missing_ok=True)
        return duckdb.connect(str(self.database_path))


def _held_by_another_process(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


def segment_rows(recording_id: str, segments: Sequence) -> list[dict]:
    """`segments` table rows of a recording's segments (records.Segment)."""
    return [
        {
            "recording_id": recording_id,
            "segment_index": index,
            "start_s": s.start_s,
            "end_s": s.end_s,
            "duration_s": round(s.end_s - s.start_s, 3),
            "speaker": s.speaker,
            "text": s.text,
            "avg_logprob": s.avg_logprob,
            "language": s.language,
        }
        for index, s in enumerate(segments)
    ]


def word_rows(recording_id: str, segments: Sequence) -> list[dict]:
    """`words` table rows of a recording's segments (records.Segment)."""
    return [
        {
            "recording_id": recording_id,
            "segment_index": s_index,
            "word_index": w_index,
            "start_s": w.start_s,
            "end_s": w.end_s,
            "speaker": w.speaker,
            "word": w.text,
            "probability": w.probability,
        }
        for s_index, s in enumerate(segments)
        for w_index, w in enumerate(s.words)
    ]


def turn_rows(recording_id: str, result) -> list[dict]:
    """`speaker_turns` table rows of a diarization (records.Diarization)."""
    return [
        {
            "recording_id": recording_id,
            "turn_index": index,
            "speaker": turn.speaker,
            "start_s": turn.start_s,
            "end_s": turn.end_s,
            "duration_s": round(turn.duration_s, 3),
            "backend": result.backend,
        }
        for index, turn in enumerate(result.turns)
    ]


def embedding_rows(recording_id: str, result) -> list[dict]:
    """`speaker_embeddings` table rows: one voice vector per speaker."""
    return [
        {
            "recording_id": recording_id,
            "speaker": speaker,
            "named": speaker in result.named,
            "match_similarity": result.named.get(speaker),
            "dimension": len(vector),
            "vector": list(vector),
            "encoder": f"{VOICE_ENCODERS.get(len(vector), 'unknown')}-{len(vector)}",
        }
        for speaker, vector in sorted(result.voice_vectors.items())
    ]
