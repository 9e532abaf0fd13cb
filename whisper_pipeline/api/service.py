"""What the HTTP API does, over what exists: a submission is registered as the inbox and `run`
register files and becomes a normal `process_recording` run on the instance (visible in the UI,
retried, monitored); a recording's state is read from its runs and the warehouse, as `status`
reads it. Nothing here processes audio."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import DagsterRunStatus

from whisper_pipeline.api.tokens import TokenStore
from whisper_pipeline.api.uploads import Upload, is_upload
from whisper_pipeline.core.display import label
from whisper_pipeline.core.exports import EXPORT_FORMATS
from whisper_pipeline.runtime import runner
from whisper_pipeline.runtime.settings import with_settings
from whisper_pipeline.runtime.status import recent_runs
from whisper_pipeline.storage import home

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from whisper_pipeline.defs.resources.storage import PipelineStorage

# a recording's state, from its newest run's status (no run yet: "registered")
STATES = {
    DagsterRunStatus.NOT_STARTED: "queued",
    DagsterRunStatus.QUEUED: "queued",
    DagsterRunStatus.STARTING: "queued",
    DagsterRunStatus.STARTED: "running",
    DagsterRunStatus.CANCELING: "canceling",
    DagsterRunStatus.SUCCESS: "succeeded",
    DagsterRunStatus.FAILURE: "failed",
    DagsterRunStatus.CANCELED: "canceled",
}
FINAL_STATES = {"succeeded", "failed", "canceled"}
TRANSCRIPT_FORMATS = EXPORT_FORMATS  # the export files, as they are


@dataclass(frozen=True)
class Limits:
    """What one API process accepts."""

    max_upload_bytes: int = 2 << 30
    max_concurrent_uploads: int = 8  # uploads and synchronous transcriptions at a time
    sync_timeout_s: float = 1800.0  # /asr and /v1/audio/transcriptions wait this long: then 504
    retry_after_s: int = 5


@dataclass
class Api:
    """The API's view of one pipeline home: its instance, storage, tokens and limits."""

    pipeline_home: Path
    instance: DagsterInstance
    storage: PipelineStorage
    limits: Limits = field(default_factory=Limits)
    tokens: TokenStore = field(init=False)
    _facts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenStore(self.pipeline_home)


@dataclass(frozen=True)
class Submission:
    recording_id: str
    run_id: str | None
    source_name: str
    created: bool  # a new run was launched (202); else the recording was here (200)


def submit(
    api: Api,
    upload: Upload,
    force: bool = False,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> Submission:
    """Register the upload (a file whose content is here already is that recording: the copy
    is dropped) and launch its run, unless it is processed or being processed (then its run)."""
    storage = api.storage
    (entry,) = runner.register(api.instance, storage.registry, [upload.path], storage.warehouse)
    if Path(entry.source_path) != upload.path:
        upload.discard()
    config = with_settings(run_config or {})
    launched, skipped = runner.launch_recordings(
        api.instance, [entry], force, config, tags=tags or {}
    )
    if launched:
        return Submission(entry.recording_id, launched[0].run_id, entry.source_name, True)
    run_id = skipped[0].run_id or latest_run_id(api, entry.recording_id)
    return Submission(entry.recording_id, run_id, entry.source_name, False)


def latest_run_id(api: Api, recording_id: str) -> str | None:
    rows = recent_runs(api.instance, limit=1, recording_ids=[recording_id])
    return rows[0]["run_id"] if rows else None


async def wait_for_run(api: Api, run_id: str, timeout_s: float) -> str | None:
    """The run's final status, or None when `timeout_s` passed first (the run goes on). A run
    whose worker died is failed by the server's keeper (api/server.py), which ends the wait."""
    import anyio
    from starlette.concurrency import run_in_threadpool

    deadline = time.monotonic() + timeout_s
    while True:
        run = await run_in_threadpool(api.instance.get_run_by_id, run_id)
        if run is not None and run.is_finished:
            return STATES[run.status]
        if time.monotonic() > deadline:
            return None
        await anyio.sleep(0.25)


def recording_view(api: Api, recording_id: str, base_url: str = "") -> dict[str, Any]:
    """What a client sees of a recording: its state, the step it is in and since when, segments
    so far, progress and ETA, the error with its step, and (once processed) its language(s),
    speakers, duration and the links to its transcripts. KeyError when it is not here."""
    entry = api.storage.registry.get(recording_id)
    now = time.time()
    rows = recent_runs(api.instance, limit=1, now=now, recording_ids=[recording_id])
    row = rows[0] if rows else None
    state = STATES[DagsterRunStatus(row["status"])] if row else "registered"
    view: dict[str, Any] = {
        "id": recording_id,
        "file": label(entry.source_name),
        "state": state,
        "run_id": row["run_id"] if row else None,
        "registered_at": entry.registered_at,
    }
    if row and state not in FINAL_STATES:
        elapsed = row["step_elapsed_s"]
        view.update(
            {
                "step": row["step"],
                "step_started_at": _iso(now - elapsed) if elapsed is not None else None,
                "segments": row["segments"],
                "progress_percent": row["percent"],
                "eta_s": row["eta_s"],
                "last_update_s_ago": row["last_update_s_ago"],
                "progress": row["progress"],
            }
        )
    if row and state in ("failed", "canceled"):
        view["error"] = {"step": row["step"], "message": label(row["error"] or "")}
    view.update(_facts(api, recording_id, row["run_id"] if row else "", state))
    exports = api.storage.outputs_for(recording_id)
    view["links"] = {
        "self": f"{base_url}/v1/recordings/{recording_id}",
        "events": f"{base_url}/v1/recordings/{recording_id}/events",
        "transcripts": {
            kind: f"{base_url}/v1/recordings/{recording_id}/transcript?format={kind}"
            for kind in TRANSCRIPT_FORMATS
            if (exports / f"{recording_id}.{kind}").exists()
        },
    }
    return view


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


FACTS_SQL = """
SELECT duration_s, language, languages, speakers, segments, words FROM recordings
WHERE recording_id = $id
"""


CHECKS_SQL = """
SELECT check_name, severity, description FROM checks
WHERE recording_id = $id AND NOT passed ORDER BY check_name
"""


def _facts(api: Api, recording_id: str, run_id: str, state: str) -> dict[str, Any]:
    """Duration, language(s) and speakers from the warehouse; read once per run, state and
    write of its rows (a client polling a finished recording costs no query; a rename shows)."""
    warehouse = api.storage.warehouse
    written = (
        warehouse.written_at("recording_files", recording_id),
        warehouse.written_at("speaker_stats", recording_id),
    )
    key = (recording_id, f"{run_id}:{state}:{written}")
    if key not in api._facts:
        with api.storage.warehouse.query_connection() as connection:
            row = connection.execute(FACTS_SQL, {"id": recording_id}).fetchone()
            speakers = [
                name
                for (name,) in connection.execute(
                    "SELECT speaker FROM speaker_stats WHERE recording_id = $id ORDER BY speaker",
                    {"id": recording_id},
                ).fetchall()
            ]
            warnings = [
                {"check": name, "severity": severity, "description": label(description or "")}
                for name, severity, description in connection.execute(
                    CHECKS_SQL, {"id": recording_id}
                ).fetchall()
            ]
        facts: dict[str, Any] = {
            "duration_s": None,
            "language": None,
            "speakers": speakers,
            "failed_checks": warnings,
        }
        if row:
            duration, language, languages, _count, segments, words = row
            facts.update(
                {
                    "duration_s": duration,
                    "language": language,
                    "languages": languages,
                    "segments_total": segments,
                    "words": words,
                }
            )
        if len(api._facts) > 10_000:
            api._facts.clear()
        api._facts[key] = facts
    return api._facts[key]


def transcript_file(api: Api, recording_id: str, kind: str) -> Path | None:
    path = api.storage.outputs_for(recording_id) / f"{recording_id}.{kind}"
    return path if path.exists() else None


def in_flight_run(api: Api, recording_id: str) -> str | None:
    return runner.runs_in_flight(api.instance, [recording_id]).get(recording_id)


def delete_recording(api: Api, recording_id: str) -> list[str]:
    """Remove the recording's files and rows (its exports, what its steps handed on, its
    warehouse rows, its registration, and the uploaded file when the API kept it); the Dagster
    run history stays. Returns what was removed."""
    storage = api.storage
    entry = storage.registry.get(recording_id)
    removed = []
    outputs = storage.outputs_for(recording_id)
    if outputs.exists():
        shutil.rmtree(outputs)
        removed.append("exports")
    for document in storage.step_outputs.root.glob(f"*/{recording_id}.json"):
        document.unlink(missing_ok=True)
    storage.warehouse.forget(recording_id)
    removed.append("warehouse rows")
    if is_upload(Path(entry.source_path), api.pipeline_home):
        shutil.rmtree(Path(entry.source_path).parent, ignore_errors=True)
        removed.append("uploaded file")
    storage.registry.forget(recording_id)
    removed.append("registration")
    storage.warehouse.refresh_database()
    return removed


def voices_dir(api: Api) -> Path:
    """Where the voice samples a request brings (known speakers) are kept while its run
    needs them."""
    return home.api_dir(api.pipeline_home) / "voices"
