"""`/v1/recordings`: hand in a recording (202 with its id and run), follow it (state, step,
progress, or Server-Sent Events), fetch its transcripts, name its speakers, delete it; and
`/v1/search` over every transcript."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from whisper_pipeline.api import service
from whisper_pipeline.api.uploads import UploadRefused, keep_upload

router = APIRouter()

MEDIA_TYPES = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "txt": "text/plain; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "rttm": "text/plain; charset=utf-8",
}
EVENT_POLL_S = 0.5
KEEPALIVE_S = 15.0


def api_of(request: Request) -> service.Api:
    return request.app.state.api


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _view_or_404(api: service.Api, recording_id: str, request: Request) -> dict[str, Any]:
    try:
        return service.recording_view(api, recording_id, base_url(request))
    except KeyError:
        raise HTTPException(404, f"no recording {recording_id!r}") from None


async def receive(api: service.Api, file: UploadFile, raw_pcm: bool = False):
    """The upload kept under the home, or the HTTP error that says why not."""
    try:
        return await run_in_threadpool(
            keep_upload, file.file, file.filename, api.pipeline_home, raw_pcm
        )
    except UploadRefused as refused:
        raise HTTPException(refused.status, refused.message) from None


@router.post("/v1/recordings", status_code=202, summary="Hand in a recording")
async def submit_recording(
    request: Request,
    file: Annotated[UploadFile, File(description="The recording (any format ffmpeg decodes).")],
    force: Annotated[bool, Form(description="Process again even if already processed.")] = False,
    num_speakers: Annotated[int | None, Form(ge=1, le=64)] = None,
    min_speakers: Annotated[int | None, Form(ge=1, le=64)] = None,
    max_speakers: Annotated[int | None, Form(ge=1, le=64)] = None,
    language: Annotated[str | None, Form(max_length=8)] = None,
) -> JSONResponse:
    """Registers the file and launches its `process_recording` run (202). A file whose content
    is already here returns that recording (200) unless `force`."""
    api = api_of(request)
    upload = await receive(api, file)
    run_config = run_config_for(language, num_speakers, min_speakers, max_speakers)
    submission = await run_in_threadpool(service.submit, api, upload, force, run_config)
    body = {
        "id": submission.recording_id,
        "run_id": submission.run_id,
        "file": submission.source_name,
        "created": submission.created,
        "status_url": f"{base_url(request)}/v1/recordings/{submission.recording_id}",
    }
    return JSONResponse(body, status_code=202 if submission.created else 200)


def run_config_for(
    language: str | None = None,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    model: str | None = None,
    voices_dir: str | None = None,
) -> dict[str, Any]:
    """A run's config for what a request sets; nothing for what it leaves to the settings."""
    resources: dict[str, Any] = {}
    asr = {k: v for k, v in {"language": language, "model": model}.items() if v}
    if asr:
        resources["asr"] = {"config": asr}
    if voices_dir:
        resources["diarizer"] = {"config": {"voices_dir": voices_dir}}
    counts = {
        k: v
        for k, v in {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        }.items()
        if v is not None
    }
    config: dict[str, Any] = {"resources": resources} if resources else {}
    if counts:
        config["ops"] = {"diarization": {"config": counts}}
    return config


@router.get("/v1/recordings", summary="List recordings")
def list_recordings(
    request: Request,
    state: Annotated[
        str | None, Query(description="Only this state (queued, running, ...).")
    ] = None,
    name: Annotated[str | None, Query(description="Only files whose name contains this.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Newest first, `limit` at a time from `offset`."""
    api = api_of(request)
    registry = api.storage.registry
    entries = []
    for recording_id in registry.ids():
        try:
            entries.append(registry.get(recording_id))
        except KeyError:  # deleted meanwhile
            continue
    if name:
        entries = [e for e in entries if name.casefold() in e.source_name.casefold()]
    entries.sort(key=lambda e: e.registered_at, reverse=True)
    views = []
    for entry in entries:
        if not state and len(views) >= offset + limit:
            break
        view = service.recording_view(api, entry.recording_id, base_url(request))
        if state is None or view["state"] == state:
            views.append(view)
    return {"data": views[offset : offset + limit], "offset": offset, "limit": limit}


@router.get("/v1/recordings/{recording_id}", summary="A recording's state")
def get_recording(request: Request, recording_id: str) -> dict[str, Any]:
    """State, current step and when it started, segments so far, progress %, ETA, the error
    with its step, language(s), speakers, duration, links."""
    return _view_or_404(api_of(request), recording_id, request)


@router.get("/v1/recordings/{recording_id}/transcript", summary="A transcript file")
def get_transcript(
    request: Request,
    recording_id: str,
    format: Annotated[str, Query(description=", ".join(service.TRANSCRIPT_FORMATS))] = "json",
) -> FileResponse:
    if format not in service.TRANSCRIPT_FORMATS:
        raise HTTPException(422, f"format must be one of {', '.join(service.TRANSCRIPT_FORMATS)}")
    api = api_of(request)
    view = _view_or_404(api, recording_id, request)
    path = service.transcript_file(api, recording_id, format)
    if path is None:
        raise HTTPException(
            404, f"{recording_id} has no {format} transcript (state: {view['state']})"
        )
    return FileResponse(path, media_type=MEDIA_TYPES[format], filename=path.name)


@router.get("/v1/exports/{recording_id}/{file_name}", summary="An export file by its name")
def get_export(request: Request, recording_id: str, file_name: str) -> FileResponse:
    """`<home>/outputs/<recording id>/<file>`: what `storage.exports_url` links to when it
    names this endpoint (`http://host:8000/v1/exports`)."""
    api = api_of(request)
    _view_or_404(api, recording_id, request)
    kind = file_name.rpartition(".")[2]
    if file_name != f"{recording_id}.{kind}" or kind not in service.TRANSCRIPT_FORMATS:
        raise HTTPException(404, f"no export {file_name!r} of {recording_id}")
    path = service.transcript_file(api, recording_id, kind)
    if path is None:
        raise HTTPException(404, f"no export {file_name!r} of {recording_id}")
    return FileResponse(path, media_type=MEDIA_TYPES[kind], filename=path.name)


@router.get("/v1/recordings/{recording_id}/events", summary="Progress as Server-Sent Events")
async def recording_events(request: Request, recording_id: str) -> StreamingResponse:
    """`event: progress` whenever the state, step, progress or segments change, then
    `event: done` with the final state; the same progress the UI and `status` show."""
    api = api_of(request)
    first = await run_in_threadpool(_view_or_404, api, recording_id, request)

    async def events():
        view, shown, quiet = first, None, 0.0
        while True:
            moment = {k: view.get(k) for k in ("state", "step", "progress_percent", "segments")}
            if moment != shown:
                shown, quiet = moment, 0.0
                final = view["state"] in service.FINAL_STATES
                kind = "done" if final else "progress"
                yield f"event: {kind}\ndata: {json.dumps(view)}\n\n"
                if final:
                    return
            elif quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield ": still here\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            quiet += EVENT_POLL_S
            try:
                view = await run_in_threadpool(
                    service.recording_view, api, recording_id, base_url(request)
                )
            except KeyError:  # deleted while followed
                yield f"event: done\ndata: {json.dumps({'id': recording_id, 'state': 'deleted'})}\n\n"
                return

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


class SpeakerName(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The speaker's new name.")


@router.patch("/v1/recordings/{recording_id}/speakers/{speaker}", summary="Name a speaker")
def rename(request: Request, recording_id: str, speaker: str, body: SpeakerName) -> dict[str, Any]:
    """The same rename as `whisper-pipeline speakers rename`: transcripts, warehouse rows and
    the UI's pages say the new name; nothing is processed again."""
    from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
    from whisper_pipeline.defs.speaker_names import (
        RenameError,
        rename_speaker,
        renamed_materializations,
    )
    from whisper_pipeline.runtime.settings import load_resource_settings

    api = api_of(request)
    _view_or_404(api, recording_id, request)
    if service.in_flight_run(api, recording_id):
        raise HTTPException(409, f"{recording_id} is being processed: rename it when it is done")
    settings = load_resource_settings()
    try:
        renamed = rename_speaker(
            api.storage,
            recording_id,
            speaker,
            body.name,
            settings.get("diarizer", {}).get("voices_dir"),
            SubtitleSettings(**settings.get("subtitles", {})).style(),
        )
    except RenameError as error:
        raise HTTPException(409 if "already has" in str(error) else 404, str(error)) from None
    api.storage.warehouse.refresh_database()
    for materialization in renamed_materializations(api.instance, renamed):
        api.instance.report_runless_asset_event(materialization)
    return {
        "id": recording_id,
        "speaker": renamed.old,
        "name": renamed.new,
        "segments": renamed.segments,
        "voice_sample": renamed.voice_sample is not None,
    }


@router.delete("/v1/recordings/{recording_id}", summary="Delete a recording")
def delete(request: Request, recording_id: str) -> dict[str, Any]:
    """Removes the recording's files and rows (the Dagster run history stays)."""
    api = api_of(request)
    _view_or_404(api, recording_id, request)
    if service.in_flight_run(api, recording_id):
        raise HTTPException(409, f"{recording_id} is being processed: delete it when it is done")
    return {"id": recording_id, "removed": service.delete_recording(api, recording_id)}


@router.get("/v1/search", summary="Full-text search")
def search_transcripts(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """The same ranked search as `whisper-pipeline search`."""
    from dataclasses import asdict

    from whisper_pipeline.storage.search import fts_extension_path, search

    api = api_of(request)
    with api.storage.warehouse.query_connection(extensions=[fts_extension_path()]) as connection:
        hits = search(connection, q, limit)
    return {"query": q, "data": [asdict(hit) for hit in hits]}
