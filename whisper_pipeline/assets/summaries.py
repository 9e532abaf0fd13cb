"""Cross-recording summaries: unpartitioned assets downstream of every recording's analytics."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from whisper_pipeline.assets.analytics import recording_analytics
from whisper_pipeline.assets.step import ASSET_OWNERS
from whisper_pipeline.lib.summaries import SUMMARY_FILE
from whisper_pipeline.lib.summaries import daily_totals as compute_daily_totals
from whisper_pipeline.resources.storage import PipelineStorage


@asset(
    deps=[recording_analytics],
    group_name="summaries",
    kinds={"duckdb", "parquet"},
    owners=ASSET_OWNERS,
    description="Per day (UTC) and language: recordings, hours of audio and speech, words, speakers; failures per day. DuckDB view daily_totals.",
)
def daily_totals(context: AssetExecutionContext, storage: PipelineStorage) -> MaterializeResult:
    metadata = refresh_daily_totals(storage)
    context.log.info(f"daily_totals: {metadata['days'].value} day(s)")
    return MaterializeResult(metadata=metadata)


def refresh_daily_totals(storage: PipelineStorage) -> dict[str, MetadataValue]:
    """Recompute the daily_totals table from the warehouse; its materialization metadata."""
    warehouse = storage.warehouse
    with warehouse.query_connection() as connection:
        rows = compute_daily_totals(connection)
    warehouse.write("daily_totals", SUMMARY_FILE, rows)
    warehouse.refresh_database()
    latest = rows[-1] if rows else {}
    return {
        "days": MetadataValue.int(len(rows)),
        "recordings": MetadataValue.int(int(sum(r["recordings"] for r in rows))),
        "audio_hours": MetadataValue.float(float(sum(r["audio_hours"] for r in rows))),
        "failures": MetadataValue.int(int(sum(r["failures"] for r in rows))),
        "latest_day": MetadataValue.text(str(latest.get("day", "-"))),
        "table": MetadataValue.path(str(warehouse.table_dir("daily_totals"))),
    }


SUMMARY_ASSETS = [daily_totals]
