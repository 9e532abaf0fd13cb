"""The inbox sensor: new, finished recordings in a folder become partitions and runs.

Each tick observes the folder (storage/inbox.py decides which files are stable), registers the
stable ones (content hash -> recording id), adds the new ids as partitions and requests one
`process_recording` run per new recording (workers keep models loaded from run to run). A recording id that is already a partition is never requested
again, whatever the cursor says: the same content under another name is the same recording."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    ConfigurableResource,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from pydantic import Field

from whisper_pipeline.core.display import label
from whisper_pipeline.core.errors import RecordingError
from whisper_pipeline.defs.jobs import process_recording
from whisper_pipeline.defs.partitions import (
    PARTITION_CHUNK,
    RECORDINGS_PARTITION,
    recording_run_tags,
    recordings_partitions,
)
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.storage import home
from whisper_pipeline.storage.inbox import (
    InboxCursor,
    InboxFile,
    InboxScan,
    defer,
    mark_taken,
    scan_inbox,
)
from whisper_pipeline.storage.registry import RegisteredRecording

INBOX_SENSOR = "recordings_inbox"
LISTED_NAMES = 10  # per kind in the tick log; the rest are counted


class IntakeSettings(ConfigurableResource):
    """Where the inbox is and how eagerly it is taken."""

    inbox_dir: str | None = Field(
        default=None,
        description="Folder to watch (nested folders included). Default: <home>/inbox.",
    )
    interval_s: int = Field(
        default=30,
        description="Seconds between two looks at the inbox (read when the code location loads).",
    )
    settle_s: float = Field(
        default=30.0,
        description="A file is stable once its size and modification time stayed the same between two looks this far apart.",
    )
    stable_age_s: float = Field(
        default=300.0,
        description="A file last modified longer ago than this is stable at first sight (an archive already in place).",
    )
    max_per_tick: int = Field(
        default=200, description="At most this many files registered per tick; the rest wait."
    )
    tick_budget_s: float = Field(
        default=30.0,
        description="Stop hashing new files after this long in one tick (big files); the rest wait.",
    )
    summaries_cron: str = Field(
        default="5 * * * *",
        description="When the schedule refreshes daily_totals (cron, UTC; read when the code location loads).",
    )

    def inbox(self, pipeline_home: Path) -> Path:
        return (
            Path(self.inbox_dir).expanduser() if self.inbox_dir else home.inbox_dir(pipeline_home)
        )


@dataclass
class InboxTick:
    """What one evaluation found and decided."""

    inbox: Path
    scan: InboxScan
    new: list[RegisteredRecording] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (relative path, id)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative path, why)
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (relative path, old id)

    @property
    def new_ids(self) -> list[str]:
        return [entry.recording_id for entry in self.new]

    def describe(self) -> list[str]:
        """The tick log: what was found, taken, skipped and why."""
        scan = self.scan
        lines = [
            f"inbox {self.inbox}: {len(self.new)} new recording(s), "
            f"{len(self.duplicates)} duplicate(s), {len(scan.waiting)} waiting, "
            f"{scan.already_taken} already taken"
        ]
        if not self.inbox.is_dir():
            lines.append(f"inbox folder {self.inbox} does not exist (yet): nothing to take")
        lines += [
            f"new: {label(e.source_name)} -> {e.recording_id}" for e in self.new[:LISTED_NAMES]
        ]
        lines += [
            f"duplicate: {path} has the content of recording {rid}, not processed again"
            for path, rid in self.duplicates[:LISTED_NAMES]
        ]
        lines += [f"unreadable: {path}: {why}" for path, why in self.unreadable[:LISTED_NAMES]]
        lines += [
            f"superseded: {rid} was only the start of {path}: taken out of the views"
            for path, rid in self.superseded[:LISTED_NAMES]
        ]
        lines += [
            f"waiting: {path}: {why}" for path, why in list(scan.waiting.items())[:LISTED_NAMES]
        ]
        for kind, count in (
            ("new", len(self.new)),
            ("duplicate", len(self.duplicates)),
            ("waiting", len(scan.waiting)),
        ):
            if count > LISTED_NAMES:
                lines.append(f"... and {count - LISTED_NAMES} more {kind}")
        if scan.ignored:
            ignored = ", ".join(f"{n} {why}" for why, n in sorted(scan.ignored.items()))
            lines.append(f"ignored: {ignored}")
        return lines


def _register_ready(
    tick: InboxTick,
    instance: DagsterInstance,
    storage: PipelineStorage,
    settings: IntakeSettings,
    started: float,
) -> None:
    scan = tick.scan
    ready = scan.ready[: settings.max_per_tick]
    defer(
        scan,
        scan.ready[settings.max_per_tick :],
        f"over the cap of {settings.max_per_tick} per tick",
    )
    known = set(instance.get_dynamic_partitions(RECORDINGS_PARTITION))
    registry = storage.registry
    registered_ids = registry.ids()
    for position, file in enumerate(ready):
        if time.monotonic() - started > settings.tick_budget_s:
            defer(scan, ready[position:], f"tick time budget of {settings.tick_budget_s:g}s spent")
            break
        entry = _register(tick, registry, registered_ids, file)
        if entry is None:
            continue
        for old in entry.supersedes:  # registered while it was still being copied
            storage.warehouse.retire(old)
            tick.superseded.append((file.relative_path, old))
        mark_taken(scan, file)
        if entry.recording_id in known:
            tick.duplicates.append((file.relative_path, entry.recording_id))
            continue
        known.add(entry.recording_id)
        registered_ids.append(entry.recording_id)
        tick.new.append(entry)


def _register(tick: InboxTick, registry, registered_ids: list[str], file: InboxFile):
    """Hash and register one stable file; None (and the reason logged) when it cannot be."""
    try:
        entry = registry.register(file.path, known_ids=registered_ids)
        stat = file.path.stat()
    except (OSError, RecordingError) as error:
        tick.unreadable.append((file.relative_path, str(error)))
        return None
    if (stat.st_size, stat.st_mtime_ns) != (file.size_bytes, file.mtime_ns):
        tick.scan.waiting[file.relative_path] = "changed while it was being registered"
        return None
    return entry


def evaluate_inbox(
    instance: DagsterInstance,
    storage: PipelineStorage,
    settings: IntakeSettings,
    cursor: str | None,
    now: float | None = None,
) -> tuple[InboxTick, str]:
    """One look at the inbox: the tick's findings and the next cursor. Registers the new
    recordings in the registry; adding partitions and runs is the caller's (the daemon's)."""
    started = time.monotonic()
    inbox = settings.inbox(storage.home)
    scan = scan_inbox(
        inbox,
        InboxCursor.from_json(cursor),
        time.time() if now is None else now,
        settings.settle_s,
        settings.stable_age_s,
    )
    tick = InboxTick(inbox=inbox, scan=scan)
    if scan.ready:
        _register_ready(tick, instance, storage, settings, started)
    return tick, scan.cursor.to_json()


def run_requests(new: list[RegisteredRecording]) -> list[RunRequest]:
    """One run per new recording. The run key is the recording id, so a re-evaluated tick can
    never start the same recording twice."""
    return [
        RunRequest(
            run_key=f"inbox:{entry.recording_id}",
            partition_key=entry.recording_id,
            tags=recording_run_tags(entry),
        )
        for entry in new
    ]


def partition_requests(recording_ids: list[str]) -> list:
    return [
        recordings_partitions.build_add_request(recording_ids[start : start + PARTITION_CHUNK])
        for start in range(0, len(recording_ids), PARTITION_CHUNK)
    ]


def build_inbox_sensor(interval_s: int):
    """The sensor, polling every `interval_s` seconds (IntakeSettings.interval_s)."""

    @sensor(
        name=INBOX_SENSOR,
        job=process_recording,
        minimum_interval_seconds=max(1, interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Watches the inbox folder: each stable new recording becomes a partition and a "
            "process_recording run (one recording once, whatever its name)."
        ),
    )
    def recordings_inbox(
        context: SensorEvaluationContext, storage: PipelineStorage, intake: IntakeSettings
    ):
        tick, cursor = evaluate_inbox(context.instance, storage, intake, context.cursor)
        for line in tick.describe():
            context.log.info(line)
        if not tick.new:
            return SensorResult(skip_reason="; ".join(tick.describe()[:3]), cursor=cursor)
        return SensorResult(
            run_requests=run_requests(tick.new),
            dynamic_partitions_requests=partition_requests(tick.new_ids),
            cursor=cursor,
        )

    return recordings_inbox
