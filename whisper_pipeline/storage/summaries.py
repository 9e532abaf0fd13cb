"""Cross-recording totals computed from the warehouse views (DuckDB SQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

SUMMARY_FILE = "all"  # summary tables are one file each, replaced on every refresh

# Days are UTC calendar days: a recording counts on the day it was registered, in its language's
# row (NULL: not transcribed yet); a failure on the day it happened, in the day's NULL row.
DAILY_TOTALS_SQL = """
WITH arrived AS (
    SELECT CAST(registered_at AS DATE) AS day,
           language,
           count(*) AS recordings,
           count(transcribed_at) AS transcribed,
           coalesce(sum(duration_s), 0) / 3600 AS audio_hours,
           coalesce(sum(speech_s), 0) / 3600 AS speech_hours,
           coalesce(sum(words), 0) AS words,
           coalesce(sum(speakers), 0) AS speakers
    FROM recordings
    GROUP BY 1, 2
),
failed AS (
    SELECT CAST(failed_at AS DATE) AS day,
           count(*) AS failures,
           count(DISTINCT recording_id) AS failed_recordings
    FROM failures
    GROUP BY 1
)
SELECT coalesce(a.day, f.day) AS day,
       a.language,
       coalesce(a.recordings, 0) AS recordings,
       coalesce(a.transcribed, 0) AS transcribed,
       coalesce(a.audio_hours, 0) AS audio_hours,
       coalesce(a.speech_hours, 0) AS speech_hours,
       coalesce(a.words, 0) AS words,
       coalesce(a.speakers, 0) AS speakers,
       coalesce(f.failures, 0) AS failures,
       coalesce(f.failed_recordings, 0) AS failed_recordings
FROM arrived AS a
FULL OUTER JOIN failed AS f ON a.day = f.day AND a.language IS NULL
WHERE coalesce(a.day, f.day) IS NOT NULL
ORDER BY day, a.language NULLS FIRST
"""


def daily_totals(connection: duckdb.DuckDBPyConnection) -> list[dict]:
    """One row per day and language: recordings, hours of audio and speech, words, speakers;
    the day's failures on its row without a language."""
    cursor = connection.execute(DAILY_TOTALS_SQL)
    columns = [column[0] for column in cursor.description]
    refreshed_at = datetime.now(UTC)
    return [
        {**dict(zip(columns, row, strict=True)), "refreshed_at": refreshed_at}
        for row in cursor.fetchall()
    ]


# Every recording the warehouse knows, by file name: processed (its last analytics after its
# last failure), failed (in which step, why), or not finished yet.
RECORDING_INDEX_SQL = """
WITH last_failure AS (
    SELECT recording_id,
           arg_max(source_name, failed_at) AS source_name,
           arg_max(step, failed_at) AS step,
           arg_max(error, failed_at) AS error,
           max(failed_at) AS failed_at
    FROM failures
    GROUP BY 1
)
SELECT * FROM (
SELECT coalesce(r.source_name, f.source_name, r.recording_id, f.recording_id) AS source_name,
       coalesce(r.recording_id, f.recording_id) AS recording_id,
       r.duration_s,
       r.language,
       r.speakers,
       CASE
           WHEN f.failed_at IS NOT NULL
                AND (r.analyzed_at IS NULL OR f.failed_at > r.analyzed_at) THEN 'failed'
           WHEN r.analyzed_at IS NOT NULL THEN 'processed'
           ELSE 'not finished'
       END AS state,
       f.step AS failed_step,
       f.error
FROM recordings AS r
FULL OUTER JOIN last_failure AS f ON r.recording_id = f.recording_id
)
ORDER BY lower(source_name), recording_id
"""


def recording_index(connection: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every recording by file name, with its state (processed, failed, not finished)."""
    cursor = connection.execute(RECORDING_INDEX_SQL)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
