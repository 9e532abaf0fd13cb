"""Two APIs clients already speak, answered synchronously: the request waits for the recording's
normal `process_recording` run (504 after the sync timeout, the run going on).

- whisper-asr-webservice: `POST /asr`, `POST /detect-language` (same field names and shapes);
- OpenAI: `POST /v1/audio/transcriptions` (json, text, srt, vtt, verbose_json, diarized_json;
  known speakers named from their voice samples) and `GET /v1/models`.

What each supports and does not: docs/api.md."""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from whisper_pipeline.api import formats, service
from whisper_pipeline.api.guards import openai_error_body
from whisper_pipeline.api.recordings import api_of, base_url, receive, run_config_for
from whisper_pipeline.api.uploads import UploadRefused
from whisper_pipeline.core.exports import to_srt, to_tsv, to_vtt
from whisper_pipeline.core.records import Segment
from whisper_pipeline.defs.resources.hand_off import RecordingResults

router = APIRouter()

ENGINE_HEADER = {"Asr-Engine": "whisper-pipeline"}
ASR_OUTPUTS = ("txt", "vtt", "srt", "tsv", "json")
OPENAI_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
# OpenAI's model names run the deployment's own configured model
OPENAI_ALIASES = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
)
BUNDLED = ("bundled:tiny.en", "bundled:base")
MAX_KNOWN_SPEAKERS = 10
WAIT_HELP = "Wait at most this many seconds (at most the server's sync timeout), then 504."
# a known speaker's sample, by its data URL's type (ffmpeg reads the content whatever its name)
REFERENCE_SUFFIXES = {
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
}


class RunNotDone(HTTPException):
    """The run did not succeed in time, or failed: the status and a body naming the run."""


async def transcribe(
    request: Request, upload, run_config: dict[str, Any], force: bool, wait_s: float | None
) -> tuple[str, dict[str, Any]]:
    """Submit and wait for the run; the recording id and its JSON export. 504 when the sync
    timeout passes first (the run goes on: follow `status_url`), 500 when the run fails (its
    step and error), 503 when it was canceled."""
    api = api_of(request)
    submission = await run_in_threadpool(service.submit, api, upload, force, run_config)
    recording_id, run_id = submission.recording_id, submission.run_id
    timeout_s = min(wait_s or api.limits.sync_timeout_s, api.limits.sync_timeout_s)
    status_url = f"{base_url(request)}/v1/recordings/{recording_id}"
    if run_id is not None:
        state = await service.wait_for_run(api, run_id, timeout_s)
        if state is None:
            raise RunNotDone(
                504,
                {
                    "message": f"still processing after {timeout_s:g} s;"
                    " the run goes on: follow status_url",
                    "id": recording_id,
                    "run_id": run_id,
                    "status_url": status_url,
                },
            )
        if state != "succeeded":
            view = await run_in_threadpool(service.recording_view, api, recording_id)
            error = view.get("error") or {"step": None, "message": state}
            raise RunNotDone(
                503 if state == "canceled" else 500,
                {
                    "message": error["message"],
                    "step": error["step"],
                    "id": recording_id,
                    "run_id": run_id,
                    "status_url": status_url,
                },
            )
    path = service.transcript_file(api, recording_id, "json")
    if path is None:
        raise RunNotDone(500, {"message": "no transcript was written", "id": recording_id})
    return recording_id, json.loads(path.read_text("utf-8"))


def _segments(api: service.Api, recording_id: str, speakers: bool) -> list[Segment]:
    segments = RecordingResults(api.storage, recording_id).speaker_transcript
    if speakers:
        return segments
    return [
        replace(s, speaker=None, words=tuple(replace(w, speaker=None) for w in s.words))
        for s in segments
    ]


@router.post("/asr", tags=["whisper-asr-webservice"], summary="Transcribe (whisper-asr-webservice)")
async def asr(
    request: Request,
    audio_file: Annotated[UploadFile, File()],
    encode: Annotated[
        bool, Query(description="Decode with ffmpeg (false: raw 16 kHz mono s16le PCM).")
    ] = True,
    task: Annotated[str, Query(pattern="^(transcribe|translate)$")] = "transcribe",
    language: Annotated[str | None, Query(max_length=8)] = None,
    initial_prompt: Annotated[str | None, Query(max_length=2000)] = None,
    vad_filter: Annotated[bool, Query()] = False,
    word_timestamps: Annotated[bool, Query()] = False,
    diarize: Annotated[bool, Query()] = False,
    min_speakers: Annotated[int | None, Query(ge=1, le=64)] = None,
    max_speakers: Annotated[int | None, Query(ge=1, le=64)] = None,
    output: Annotated[str, Query(pattern="^(txt|vtt|srt|tsv|json)$")] = "txt",
    wait_s: Annotated[float | None, Query(gt=0, description=WAIT_HELP)] = None,
) -> Response:
    """whisper-asr-webservice's `/asr`. `initial_prompt` and `vad_filter` are accepted and
    not applied (the pipeline always filters with its VAD); speakers appear with `diarize`."""
    if task == "translate":
        raise HTTPException(400, "task=translate is not supported: this deployment transcribes")
    api = api_of(request)
    upload = await receive(api, audio_file, raw_pcm=not encode)
    config = run_config_for(language, None, min_speakers, max_speakers)
    try:
        recording_id, document = await transcribe(request, upload, config, bool(config), wait_s)
    except RunNotDone as failed:
        return JSONResponse({"detail": failed.detail}, status_code=failed.status_code)
    stem = Path(upload.path).stem
    headers = {**ENGINE_HEADER, "Content-Disposition": f'attachment; filename="{stem}.{output}"'}
    if output == "json":
        body = formats.whisper_result(document, word_timestamps, diarize)
        return JSONResponse(body, headers=headers)
    segments = await run_in_threadpool(_segments, api, recording_id, diarize)
    text = {
        "txt": lambda: formats.plain_lines(document) if not diarize else _speaker_lines(segments),
        "srt": lambda: to_srt(segments),
        "vtt": lambda: to_vtt(segments),
        "tsv": lambda: to_tsv(segments),
    }[output]()
    return PlainTextResponse(text, headers=headers)


def _speaker_lines(segments: list[Segment]) -> str:
    lines = [f"{s.speaker}: {s.text.strip()}" if s.speaker else s.text.strip() for s in segments]
    return "\n".join(line for line in lines if line) + "\n"


_language_lock = threading.Lock()  # one language identification at a time in this process


def _identify(path: Path) -> Any:
    from whisper_pipeline.defs.resources.asr import WhisperASR
    from whisper_pipeline.inference.audio import iter_windows

    first = next(iter_windows(path, 30.0), None)
    if first is None:
        return None
    with _language_lock:
        return WhisperASR(device="cpu").identify_language(first.samples)


@router.post("/detect-language", tags=["whisper-asr-webservice"], summary="Detect the language")
async def detect_language(
    request: Request,
    audio_file: Annotated[UploadFile, File()],
    encode: Annotated[bool, Query()] = True,
) -> JSONResponse:
    """The language of the first 30 s, by the bundled multilingual model (nothing is
    registered or kept)."""
    api = api_of(request)
    upload = await receive(api, audio_file, raw_pcm=not encode)
    try:
        detected = await run_in_threadpool(_identify, upload.path)
    finally:
        upload.discard()
    if detected is None:
        raise HTTPException(422, "no speech to tell the language of")
    return JSONResponse(
        {
            "detected_language": formats.language_name(detected.language),
            "language_code": detected.language,
            "confidence": round(float(detected.probability), 4),
        },
        headers=ENGINE_HEADER,
    )


def deployment_models() -> list[str]:
    """What `model` may name: OpenAI's names (the deployment's model), the bundled models, and
    the model the settings configure."""
    from whisper_pipeline.runtime.settings import load_resource_settings

    configured = load_resource_settings().get("asr", {}).get("model")
    names = [*OPENAI_ALIASES, *BUNDLED]
    if isinstance(configured, str) and configured not in names:
        names.append(configured)
    return names


def openai_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    return JSONResponse(openai_error_body(status, message, param, code), status_code=status)


@router.get("/v1/models", tags=["OpenAI"], summary="The models this deployment runs")
def list_models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "whisper-pipeline"}
            for name in deployment_models()
        ],
    }


def keep_known_voices(api: service.Api, names: list[str], references: list[str]) -> Path:
    """The request's known speakers as a voices folder (`<Name>/reference.<ext>`) for its
    run's diarization to name them from; UploadRefused 400 for a reference that is not a
    data URL of audio."""
    from whisper_pipeline.inference.audio import probe
    from whisper_pipeline.inference.voices import voice_folder_name

    folder = service.voices_dir(api) / uuid.uuid4().hex
    try:
        for name, reference in zip(names, references, strict=True):
            header, _, data = reference.partition(",")
            if not header.startswith("data:") or ";base64" not in header:
                raise UploadRefused(400, f"the reference of {name!r} is not a base64 data URL")
            try:
                audio = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise UploadRefused(400, f"the reference of {name!r} is not valid base64") from None
            mime = header[len("data:") :].split(";")[0]
            path = (
                folder
                / voice_folder_name(name)
                / f"reference{REFERENCE_SUFFIXES.get(mime, '.wav')}"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(audio)
            try:
                probe(path)
            except Exception:
                raise UploadRefused(400, f"the reference of {name!r} is not audio") from None
        return folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@router.post("/v1/audio/transcriptions", tags=["OpenAI"], summary="Transcribe (OpenAI)")
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File()],
    model: Annotated[str, Form()],
    language: Annotated[str | None, Form(max_length=8)] = None,
    prompt: Annotated[str | None, Form(max_length=4000)] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float | None, Form()] = None,
    granularities: Annotated[list[str], Form(alias="timestamp_granularities[]")] = [],  # noqa: B006
    names: Annotated[list[str], Form(alias="known_speaker_names[]")] = [],  # noqa: B006
    references: Annotated[list[str], Form(alias="known_speaker_references[]")] = [],  # noqa: B006
    chunking_strategy: Annotated[str | None, Form()] = None,
    wait_s: Annotated[float | None, Query(gt=0, description=WAIT_HELP)] = None,
) -> Response:
    """OpenAI's transcription endpoint. `prompt`, `temperature` and `chunking_strategy` are
    accepted and not applied; known speakers (up to 10) are named from their samples."""
    if response_format not in OPENAI_FORMATS:
        return openai_error(
            400, f"response_format must be one of {', '.join(OPENAI_FORMATS)}", "response_format"
        )
    if model not in deployment_models():
        return openai_error(
            404 if model else 400,
            f"model {model!r} is not one this deployment runs (GET /v1/models)",
            "model",
            "model_not_found",
        )
    if len(names) != len(references) or len(names) > MAX_KNOWN_SPEAKERS:
        return openai_error(
            400,
            "known_speaker_names[] and known_speaker_references[] must pair up"
            f" (at most {MAX_KNOWN_SPEAKERS})",
            "known_speaker_names",
        )
    api = api_of(request)
    try:
        upload = await receive(api, file)
    except HTTPException as refused:
        return openai_error(refused.status_code, str(refused.detail), "file")
    voices = None
    try:
        if names:
            voices = await run_in_threadpool(keep_known_voices, api, names, references)
        chosen = None if model in OPENAI_ALIASES else model
        config = run_config_for(language, model=chosen, voices_dir=str(voices) if voices else None)
        recording_id, document = await transcribe(request, upload, config, bool(config), wait_s)
    except UploadRefused as refused:
        upload.discard()
        return openai_error(refused.status, refused.message, "known_speaker_references")
    except RunNotDone as failed:
        detail = failed.detail
        voices = None if failed.status_code == 504 else voices  # the run still reads them
        return openai_error(failed.status_code, detail["message"], None, None)
    finally:
        if voices is not None:
            shutil.rmtree(voices, ignore_errors=True)
    return _openai_body(api, recording_id, document, response_format, granularities, names)


def _openai_body(
    api: service.Api,
    recording_id: str,
    document: dict[str, Any],
    response_format: str,
    granularities: list[str],
    known: list[str],
) -> Response:
    if response_format == "text":
        return PlainTextResponse(formats.full_text(document) + "\n")
    if response_format in ("srt", "vtt"):
        segments = _segments(api, recording_id, speakers=True)
        return PlainTextResponse(to_srt(segments) if response_format == "srt" else to_vtt(segments))
    if response_format == "verbose_json":
        return JSONResponse(formats.openai_verbose(document, granularities))
    if response_format == "diarized_json":
        return JSONResponse(formats.openai_diarized(document, known))
    duration = document.get("duration") or 0.0
    return JSONResponse(
        {"text": formats.full_text(document), "usage": {"type": "duration", "seconds": duration}}
    )
