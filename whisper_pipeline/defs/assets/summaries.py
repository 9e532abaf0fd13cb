"""Cross-recording summaries: unpartitioned assets downstream of every recording's analytics."""

from collections import Counter

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.core.display import clock, counted
from whisper_pipeline.core.previews import recording_index_markdown
from whisper_pipeline.defs.assets.analytics import recording_analytics
from whisper_pipeline.defs.assets.step import ASSET_OWNERS
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.storage.summaries import SUMMARY_FILE
from whisper_pipeline.storage.summaries import daily_totals as compute_daily_totals
from whisper_pipeline.storage.summaries import recording_index as compute_recording_index


@asset(
    deps=[recording_analytics],
    group_name="summaries",
    kinds={"duckdb", "parquet"},
    owners=ASSET_OWNERS,
    description="Per day (UTC) and language: recordings, hours of audio and speech, words, speakers; failures per day. DuckDB view daily_totals.",
)
def daily_totals(context: AssetExecutionContext, storage: PipelineStorage) -> MaterializeResult:
    metadata = refresh_daily_totals(storage)
    context.log.info(f"daily_totals: {counted(metadata['days'].value, 'day')}")
    return MaterializeResult(metadata=metadata)


def refresh_daily_totals(storage: PipelineStorage) -> dict[str, MetadataValue]:
    """Recompute the daily_totals table from the warehouse; its materialization metadata."""
    warehouse = storage.warehouse
    with warehouse.query_connection() as connection:
        rows = compute_daily_totals(connection)
    warehouse.write("daily_totals", SUMMARY_FILE, rows)
    warehouse.refresh_database()
    days = sorted({row["day"] for row in rows})
    languages = sorted({row["language"] or UNKNOWN_LANGUAGE for row in rows if row["recordings"]})
    return {
        "days": MetadataValue.int(len(days)),
        "languages": ", ".join(languages) or "none",
        "recordings": MetadataValue.int(int(sum(r["recordings"] for r in rows))),
        "audio": clock(float(sum(r["audio_hours"] for r in rows)) * 3600),
        "failures": MetadataValue.int(int(sum(r["failures"] for r in rows))),
        "latest_day": MetadataValue.text(str(days[-1]) if days else "-"),
        "table": MetadataValue.path(str(warehouse.table_dir("daily_totals"))),
    }


# how a recording whose language is not known (not transcribed, no speech) is listed
UNKNOWN_LANGUAGE = "unknown"


@asset(
    deps=[recording_analytics],
    group_name="summaries",
    kinds={"duckdb"},
    owners=ASSET_OWNERS,
    description="Every recording by its file name: processed or failed (in which step, why),"
    " with a link to its partition pages: see `index` under Metadata.",
)
def recording_index(context: AssetExecutionContext, storage: PipelineStorage) -> MaterializeResult:
    metadata = refresh_recording_index(storage)
    context.log.info(f"recording_index: {metadata['recordings'].value} recordings")
    return MaterializeResult(metadata=metadata)


def refresh_recording_index(storage: PipelineStorage) -> dict[str, MetadataValue]:
    """The index's materialization metadata, read from the warehouse."""
    with storage.warehouse.query_connection() as connection:
        rows = compute_recording_index(connection)
    states = Counter(str(row["state"]) for row in rows)
    return {
        "recordings": MetadataValue.int(len(rows)),
        "processed": MetadataValue.int(states["processed"]),
        "failed": MetadataValue.int(states["failed"]),
        "index": MetadataValue.md(recording_index_markdown(rows)),
    }


SUMMARY_ASSETS = [daily_totals, recording_index]
