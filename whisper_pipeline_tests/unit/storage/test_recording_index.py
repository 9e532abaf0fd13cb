"""The recording index: every recording by file name with its state, from real warehouse files."""

from datetime import UTC, datetime, timedelta

from whisper_pipeline.core.previews import recording_index_markdown
from whisper_pipeline.storage.summaries import recording_index
from whisper_pipeline.storage.warehouse import Warehouse


def test_each_recording_is_processed_failed_or_not_finished(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse")
    now = datetime.now(UTC)
    for rid, name in (("hot-interview-aaa", "Hot Interview.m4a"), ("retry-bbb", "retry|me.wav")):
        # registered; only the first reaches its analytics
        warehouse.write(
            "recording_files",
            rid,
            [{"recording_id": rid, "source_name": name, "duration_s": 75.0, "registered_at": now}],
        )
    warehouse.write(
        "recording_stats",
        "hot-interview-aaa",
        [{"recording_id": "hot-interview-aaa", "speakers": 2, "analyzed_at": now}],
    )
    # failed once, processed since: processed; failed after its analytics: failed
    for rid, when in (("hot-interview-aaa", now - timedelta(hours=1)), ("retry-bbb", now)):
        warehouse.add_failure(
            {
                "recording_id": rid,
                "source_name": "x",
                "step": "transcript",
                "error": f"Step transcript failed: {rid}",
                "error_type": "RuntimeError",
                "segments": 3,
                "run_id": "r",
                "failed_at": when,
            }
        )
    warehouse.add_failure(
        {
            "recording_id": "notes-ccc",
            "source_name": "notes.wav",
            "step": "recording_metadata",
            "error": "not decodable audio",
            "error_type": "RecordingError",
            "segments": None,
            "run_id": "r",
            "failed_at": now,
        }
    )
    warehouse.refresh_database()
    with warehouse.query_connection() as connection:
        rows = recording_index(connection)
    states = {row["source_name"]: row["state"] for row in rows}
    assert states == {
        "Hot Interview.m4a": "processed",
        "notes.wav": "failed",
        "retry|me.wav": "failed",
    }
    text = recording_index_markdown(rows)
    assert "| **Hot Interview.m4a** | processed | 1:15 |" in text
    assert "[notes-ccc](/assets/recording_metadata?view=partitions&partition=notes-ccc)" in text
    assert "retry\\|me.wav" in text  # a | in a name does not break the table
    assert "failed: not decodable audio" in text
