"""`whisper-pipeline metrics`: a Prometheus exporter of the pipeline's state, read from the Dagster
instance and the home on each scrape: runs by job and status, recordings by state, what is
running (its step, segments, progress, time since its last progress), failures by step and
kind, queue depth and live workers per queue, the warehouse's rows and last refresh.

Cheap on a big instance: run counts are indexed count queries; running runs are only those
started; the warehouse's files are read once each (by name and modification time) and kept, so
a scrape reads only what changed since the last. A source that fails (a database migrating, a
damaged warehouse file, an unreachable broker) is reported by `whisper_exporter_source_up`
and the rest is still answered: a scrape never fails. docs/monitoring.md."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from whisper_pipeline.core.tags import (
    CPU_QUEUE,
    GPU_QUEUE,
    PARTITION_TAG,
    TAG_PERCENT,
    TAG_SEGMENTS,
    TAG_STEP,
    TAG_UPDATED,
    own_tags,
    read_time_tag,
)
from whisper_pipeline.defs.jobs import PROCESS_RECORDING, RENAME_SPEAKER
from whisper_pipeline.defs.schedules import refresh_summaries
from whisper_pipeline.runtime.worker_metrics import heartbeat_dir
from whisper_pipeline.storage import home

log = logging.getLogger(__name__)

JOBS = (PROCESS_RECORDING, RENAME_SPEAKER, refresh_summaries.name)  # the code location's jobs
STATUSES = {
    "queued": [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED],
    "starting": [DagsterRunStatus.STARTING],
    "started": [DagsterRunStatus.STARTED],
    "canceling": [DagsterRunStatus.CANCELING],
    "success": [DagsterRunStatus.SUCCESS],
    "failure": [DagsterRunStatus.FAILURE],
    "canceled": [DagsterRunStatus.CANCELED],
}
QUEUES = (GPU_QUEUE, CPU_QUEUE)
WORKER_ALIVE_S = 35.0  # three heartbeats missed: gone
FAILURE_KINDS = {
    "RecordingError": "decode",
    "WorkerDied": "worker_died",
    "RunMonitor": "stuck",
    "Interrupted": "interrupted",
    "KeyboardInterrupt": "interrupted",
    "DagsterExecutionInterruptedError": "interrupted",
    "ConfigurationError": "configuration",
}


def failure_kind(error_type: str | None, message: str | None) -> str:
    """decode, timeout, worker_died, stuck, interrupted, configuration or other."""
    if error_type in FAILURE_KINDS:
        return FAILURE_KINDS[error_type]
    if "Timeout" in (error_type or "") or "timed out" in (message or "").lower():
        return "timeout"
    return "other"


class FileRows:
    """The rows of a warehouse table's Parquet files, each file read once (again only when it
    changes); `rows` maps a file's name to what `read` made of it."""

    def __init__(self, read: Callable[[Path], Any]) -> None:
        self.read = read
        self.rows: dict[str, Any] = {}
        self.unreadable: set[str] = set()
        self._seen: dict[str, int] = {}
        self._folder_stamp: int | None = None

    def refresh(self, folder: Path) -> dict[str, Any]:
        """Files are only ever added, replaced or removed by a rename (storage/warehouse.py
        writes atomically), which changes the folder's modification time: an unchanged
        folder is not listed again."""
        try:
            stamp = folder.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp == self._folder_stamp and not self.unreadable:
            return self.rows
        self._folder_stamp = stamp
        present = {}
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.suffix == ".parquet" and not entry.name.startswith("_"):
                    present[entry.name] = entry
        for name in (set(self.rows) | self.unreadable) - set(present):
            self.rows.pop(name, None)
            self._seen.pop(name, None)
            self.unreadable.discard(name)
        for name, path in present.items():
            try:
                stamp = path.stat().st_mtime_ns
                if self._seen.get(name) != stamp:
                    self.rows[name] = self.read(path)
                    self._seen[name] = stamp
                    self.unreadable.discard(name)
            except (OSError, ValueError) as error:  # damaged or vanishing: skipped, said once
                if name not in self.unreadable:
                    log.warning("warehouse file %s unreadable: %s", path, error)
                self.unreadable.add(name)
                self._seen.pop(name, None)
                self.rows.pop(name, None)
        return self.rows


def _row_count(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def _first_row(columns: list[str]) -> Callable[[Path], dict[str, Any]]:
    def read(path: Path) -> dict[str, Any]:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=columns)
        rows = table.to_pylist()
        return rows[0] if rows else {}

    return read


class PipelineCollector:
    """What a scrape answers (registered in its own registry by `serve`)."""

    def __init__(self, instance: DagsterInstance, pipeline_home: Path) -> None:
        self.instance = instance
        self.pipeline_home = pipeline_home
        self.warehouse_dir = home.warehouse_dir(pipeline_home)
        self.table_rows: dict[str, FileRows] = {}  # rows per file, by table
        self.failures = FileRows(_first_row(["step", "error_type", "error"]))
        self.durations = FileRows(_first_row(["duration_s"]))
        self._registry_count: tuple[int | None, int] = (None, 0)
        self._lock = threading.Lock()  # one scrape (or the warm-up) at a time

    def _rows_of(self, table: str) -> dict[str, int]:
        """Rows per file of a warehouse table (one reader per table, shared by the sources)."""
        reader = self.table_rows.setdefault(table, FileRows(_row_count))
        return reader.refresh(self.warehouse_dir / table)

    def _registered(self) -> int:
        """Registry entries, counted again only when the registry folder changed."""
        registry = home.registry_dir(self.pipeline_home)
        if not registry.is_dir():
            return 0
        stamp = registry.stat().st_mtime_ns
        if self._registry_count[0] != stamp:
            self._registry_count = (stamp, sum(1 for _ in registry.glob("*.json")))
        return self._registry_count[1]

    def collect(self) -> Iterator[Any]:
        with self._lock:
            families = list(self._collect())
        yield from families

    def _collect(self) -> Iterator[Any]:
        started = time.monotonic()
        up = GaugeMetricFamily(
            "whisper_exporter_source_up",
            "1 when the source answered this scrape, 0 when it failed (its metrics are missing).",
            labels=["source"],
        )
        for source, produce in (
            ("runs", self._runs),
            ("running", self._running),
            ("registry", self._recordings),
            ("failures", self._failures),
            ("warehouse", self._warehouse),
            ("broker", self._queues),
            ("workers", self._workers),
        ):
            try:
                families = list(produce())
            except Exception as error:  # answered without it; the scrape goes on
                log.warning("metrics source %s failed: %s", source, error)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up
        took = GaugeMetricFamily(
            "whisper_exporter_scrape_seconds", "Time this scrape took to gather its metrics."
        )
        took.add_metric([], time.monotonic() - started)
        yield took

    def _runs(self) -> Iterator[Any]:
        runs = GaugeMetricFamily(
            "whisper_runs", "Dagster runs by job and status.", labels=["dagster_job", "status"]
        )
        processed = None
        for job in JOBS:
            for status, members in STATUSES.items():
                count = self.instance.get_runs_count(RunsFilter(job_name=job, statuses=members))
                runs.add_metric([job, status], count)
                if job == PROCESS_RECORDING and status == "success":
                    processed = count
        yield runs
        done = CounterMetricFamily(
            "whisper_recordings_processed",
            "process_recording runs that succeeded (each a recording processed).",
        )
        done.add_metric([], processed or 0)
        yield done

    def _running(self) -> Iterator[Any]:
        now = time.time()
        labels = ["run_id", "recording_id", "step"]
        percent = GaugeMetricFamily(
            "whisper_run_progress_percent", "Progress of each running run's step.", labels=labels
        )
        segments = GaugeMetricFamily(
            "whisper_run_segments",
            "Segments transcribed so far by each running run.",
            labels=labels,
        )
        quiet = GaugeMetricFamily(
            "whisper_run_seconds_since_progress",
            "Seconds since each running run last reported progress.",
            labels=labels,
        )
        for run in self.instance.get_runs(
            RunsFilter(job_name="process_recording", statuses=[DagsterRunStatus.STARTED])
        ):
            tags = own_tags(run)
            key = [run.run_id, run.tags.get(PARTITION_TAG, ""), tags.get(TAG_STEP, "starting")]
            percent.add_metric(key, float(tags.get(TAG_PERCENT) or 0))
            if tags.get(TAG_SEGMENTS, "").isdigit():
                segments.add_metric(key, int(tags[TAG_SEGMENTS]))
            updated = read_time_tag(tags.get(TAG_UPDATED))
            if updated is not None:
                quiet.add_metric(key, max(0.0, now - updated))
        yield from (percent, segments, quiet)

    def _recordings(self) -> Iterator[Any]:
        registered = self._registered()
        transcripts = self._rows_of("transcripts")
        transcribed, analyzed = len(transcripts), len(self._rows_of("recording_stats"))
        family = GaugeMetricFamily(
            "whisper_recordings",
            "Recordings by state: registered (all), transcribed, analyzed (every step done).",
            labels=["state"],
        )
        for state, count in (
            ("registered", registered),
            ("transcribed", transcribed),
            ("analyzed", analyzed),
        ):
            family.add_metric([state], count)
        yield family
        audio = CounterMetricFamily(
            "whisper_audio_seconds_processed",
            "Seconds of audio of the recordings transcribed (the duration of each file).",
        )
        durations = self.durations.refresh(self.warehouse_dir / "recording_files")
        audio.add_metric(
            [],
            sum(
                (row.get("duration_s") or 0.0)
                for name, row in durations.items()
                if name in transcripts
            ),
        )
        yield audio

    def _failures(self) -> Iterator[Any]:
        rows = self.failures.refresh(self.warehouse_dir / "failures")
        counts: dict[tuple[str, str], int] = {}
        for row in rows.values():
            kind = failure_kind(row.get("error_type"), row.get("error"))
            key = (row.get("step") or "unknown", kind)
            counts[key] = counts.get(key, 0) + 1
        family = CounterMetricFamily(
            "whisper_failures",
            "Failed steps (failures rows) by step and kind.",
            labels=["step", "kind"],
        )
        for (step, kind), count in sorted(counts.items()):
            family.add_metric([step, kind], count)
        yield family
        ended = CounterMetricFamily(
            "whisper_runs_ended_from_outside",
            "Runs failed because they were stuck (the run monitor) or their worker died.",
            labels=["reason"],
        )
        for reason in ("stuck", "worker_died"):
            ended.add_metric([reason], sum(c for (_, k), c in counts.items() if k == reason))
        yield ended

    def _warehouse(self) -> Iterator[Any]:
        from whisper_pipeline.storage.warehouse import DATABASE_NAME, TABLES

        rows = GaugeMetricFamily(
            "whisper_warehouse_rows", "Rows of each warehouse table.", labels=["table"]
        )
        for table in TABLES:
            rows.add_metric([table], sum(self._rows_of(table).values()))
        yield rows
        unreadable = GaugeMetricFamily(
            "whisper_warehouse_unreadable_files",
            "Warehouse files the exporter could not read (damaged or being written), by table.",
            labels=["table"],
        )
        for table, reader in sorted(self.table_rows.items()):
            unreadable.add_metric([table], len(reader.unreadable))
        yield unreadable
        refreshed = GaugeMetricFamily(
            "whisper_warehouse_last_refresh_timestamp_seconds",
            "When the warehouse's DuckDB database (its views) was last refreshed.",
        )
        database = self.warehouse_dir / DATABASE_NAME
        if database.exists():
            refreshed.add_metric([], database.stat().st_mtime)
        yield refreshed

    def _queues(self) -> Iterator[Any]:
        celery = getattr(self.instance.run_launcher, "celery", None)
        if celery is None:
            return
        depth = GaugeMetricFamily(
            "whisper_queue_depth", "Runs waiting in each Celery queue.", labels=["queue"]
        )
        with celery.connection_for_read() as connection:
            channel = connection.default_channel
            for queue in QUEUES:
                try:
                    declared = channel.queue_declare(queue=queue, passive=True)
                    depth.add_metric([queue], declared.message_count)
                except Exception:  # a queue nobody declared yet holds nothing
                    depth.add_metric([queue], 0)
        yield depth

    def _workers(self) -> Iterator[Any]:
        now = time.time()
        alive = dict.fromkeys(QUEUES, 0)
        folder = heartbeat_dir(self.pipeline_home)
        for beat in folder.glob("*.json") if folder.is_dir() else []:
            try:
                data = json.loads(beat.read_text())
            except (OSError, ValueError):
                continue
            if now - float(data.get("at", 0)) <= WORKER_ALIVE_S:
                for queue in data.get("queues", []):
                    alive[queue] = alive.get(queue, 0) + 1
        family = GaugeMetricFamily(
            "whisper_workers_alive", "Run workers alive (heartbeat) per queue.", labels=["queue"]
        )
        for queue, count in sorted(alive.items()):
            family.add_metric([queue], count)
        yield family


def serve(instance: DagsterInstance, pipeline_home: Path, host: str, port: int) -> None:
    """Serve /metrics until SIGTERM or Ctrl+C."""
    import signal

    from prometheus_client import CollectorRegistry, start_http_server

    collector = PipelineCollector(instance, pipeline_home)
    registry = CollectorRegistry()
    registry.register(collector)
    # the first scrape reads every warehouse file: done now, so no scrape waits for it
    threading.Thread(target=lambda: list(collector.collect()), name="warm-up", daemon=True).start()
    server, thread = start_http_server(port, addr=host, registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.warning("metrics on http://%s:%s/metrics", host, port)
    stop.wait()
    server.shutdown()
