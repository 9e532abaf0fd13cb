"""Full-text search over the warehouse's segments with DuckDB's fts extension (loaded from its
PyPI package into the read-only query connection)."""

import duckdb

from whisper_pipeline.core.records import Segment
from whisper_pipeline.storage.search import fts_extension_path, search
from whisper_pipeline.storage.warehouse import Warehouse, segment_rows


def test_the_segment_with_every_word_ranks_first(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.write(
        "segments",
        "rec-a",
        segment_rows(
            "rec-a",
            [
                Segment(0.0, 2.0, "Good morning, everyone.", speaker="SPEAKER_00"),
                Segment(2.0, 6.0, "Let's start the budget review now.", speaker="SPEAKER_01"),
            ],
        ),
    )
    warehouse.write(
        "segments",
        "rec-b",
        segment_rows("rec-b", [Segment(5.0, 7.0, "The budget is fine.", speaker="Ana")]),
    )
    warehouse.write("recording_files", "rec-a", [{"recording_id": "rec-a", "source_name": "a.wav"}])
    with warehouse.query_connection(extensions=[fts_extension_path()]) as connection:
        hits = search(connection, "budget review")
        assert [(h.recording_id, h.start_s, h.speaker) for h in hits] == [
            ("rec-a", 2.0, "SPEAKER_01"),
            ("rec-b", 5.0, "Ana"),
        ]
        assert hits[0].score > hits[1].score and hits[0].source_name == "a.wav"
        assert search(connection, "weather") == [] and search(connection, "  ") == []
        try:  # the sandbox still holds: the extension was loaded before it was locked
            connection.execute("COPY (SELECT 1) TO 'x.csv'")
            raise AssertionError("COPY was allowed")
        except duckdb.PermissionException:
            pass


def test_the_extension_matches_the_installed_duckdb():
    assert f"v{duckdb.__version__}" in str(fts_extension_path())
