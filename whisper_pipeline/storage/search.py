"""Full-text search over every transcript's segments, ranked by BM25 (DuckDB's `fts`
extension, which ships as the PyPI package duckdb-extension-fts: DuckDB cannot download
extensions here, so the package's file is loaded, and it must match the installed DuckDB)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from whisper_pipeline.core.errors import ConfigurationError

INDEXED_TABLE = "search_segments"

# One row per segment, with the file name people know; indexed in memory for each search.
_INDEX_SQL = f"""
CREATE OR REPLACE TEMP TABLE {INDEXED_TABLE} AS
SELECT row_number() OVER (ORDER BY s.recording_id, s.segment_index) AS doc_id,
       s.recording_id, f.source_name, s.speaker, s.start_s, s.end_s, s.text
FROM segments AS s LEFT JOIN recording_files AS f USING (recording_id)
WHERE s.text IS NOT NULL AND trim(s.text) <> ''
"""
SEARCH_SQL = f"""
SELECT recording_id, source_name, speaker, start_s, end_s, text, score
FROM (
    SELECT *, fts_main_{INDEXED_TABLE}.match_bm25(doc_id, $query) AS score
    FROM {INDEXED_TABLE}
)
WHERE score IS NOT NULL
ORDER BY score DESC, recording_id, start_s
LIMIT $limit
"""


@dataclass(frozen=True)
class Hit:
    recording_id: str
    source_name: str | None
    speaker: str | None
    start_s: float
    end_s: float
    text: str
    score: float


def fts_extension_path() -> Path:
    """The fts extension file shipped for the installed DuckDB version."""
    try:
        import duckdb_extension_fts
    except ImportError:
        raise ConfigurationError(
            "search needs the package duckdb-extension-fts (pip install"
            f" duckdb-extension-fts=={duckdb.__version__}, or `make setup`)"
        ) from None
    folder = Path(duckdb_extension_fts.__file__).parent / "extensions"
    path = folder / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else "none"
        raise ConfigurationError(
            f"duckdb-extension-fts ships the fts extension for {shipped}, not DuckDB"
            f" v{duckdb.__version__}: install the matching versions (see pyproject.toml)"
        )
    return path


def search(connection: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[Hit]:
    """Segments matching `query`, best first. `connection` has the fts extension loaded and the
    warehouse views (Warehouse.query_connection(extensions=...))."""
    if not query.strip():
        return []
    connection.execute(_INDEX_SQL)
    connection.execute(
        f"PRAGMA create_fts_index('{INDEXED_TABLE}', 'doc_id', 'text', overwrite = 1)"
    )
    rows = connection.execute(SEARCH_SQL, {"query": query, "limit": limit}).fetchall()
    return [Hit(*row) for row in rows]
