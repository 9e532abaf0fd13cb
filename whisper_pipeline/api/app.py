"""The FastAPI application: the recordings API, the two compatible APIs, `/health` and
`/ready`, behind the token, size and concurrency guards. OpenAPI page at `/docs`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from whisper_pipeline.api import compatible, recordings
from whisper_pipeline.api.guards import LimitBody, LimitConcurrency, RequireToken, error_body
from whisper_pipeline.api.service import Api

DESCRIPTION = """Hand in recordings, follow their progress, fetch speaker-attributed
transcripts; every submission is a normal `process_recording` run (visible in the Dagster UI).
Every endpoint but `/health`, `/ready` and these pages needs `Authorization: Bearer <token>`
(`whisper-pipeline api-token create NAME`). docs/api.md."""


def readiness(api: Api, worker_alive: Callable[[], str | None]) -> dict[str, str]:
    """What is not reachable, by name: the instance, the broker, the run worker this process
    started (when it started one), the home's storage, the warehouse."""
    failing: dict[str, str] = {}

    def check(name: str, probe: Callable[[], Any]) -> None:
        try:
            probe()
        except Exception as error:  # any failure means not ready; the message says which
            failing[name] = f"{type(error).__name__}: {error}"[:300]

    check("instance", lambda: api.instance.get_run_ids(limit=1))
    launcher = api.instance.run_launcher
    celery = getattr(launcher, "celery", None)
    if celery is not None:
        check("broker", lambda: celery.connection_for_write().ensure_connection(max_retries=1))
    problem = worker_alive()
    if problem:
        failing["worker"] = problem

    def storage_writable() -> None:
        probe_file = api.pipeline_home / "api" / f".ready-{uuid.uuid4().hex}"
        probe_file.parent.mkdir(parents=True, exist_ok=True)
        probe_file.write_bytes(b"")
        probe_file.unlink()

    check("storage", storage_writable)

    def warehouse_answers() -> None:
        with api.storage.warehouse.query_connection() as connection:
            connection.execute("SELECT count(*) FROM recordings").fetchone()

    check("warehouse", warehouse_answers)
    return failing


def create_app(api: Api, worker_alive: Callable[[], str | None] = lambda: None) -> FastAPI:
    app = FastAPI(title="whisper-pipeline", description=DESCRIPTION, version="1")
    app.state.api = api
    app.include_router(recordings.router, tags=["recordings"])
    app.include_router(compatible.router)

    @app.get("/health", tags=["service"], summary="The process is alive")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], summary="Everything it needs is reachable")
    def ready() -> JSONResponse:
        failing = readiness(api, worker_alive)
        if failing:
            return JSONResponse({"ready": False, "failing": failing}, status_code=503)
        return JSONResponse({"ready": True})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(request.url.path, error.status_code, str(error.detail))
            if isinstance(error.detail, str)
            else {"detail": error.detail},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/v1/audio/"):
            message = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in error.errors()
            )
            return JSONResponse(error_body(request.url.path, 400, message), status_code=400)
        return JSONResponse({"detail": jsonable_encoder(error.errors())}, status_code=422)

    # outermost first: the token, then the size of what is sent, then how many at a time
    app.add_middleware(
        LimitConcurrency,
        limit=api.limits.max_concurrent_uploads,
        retry_after_s=api.limits.retry_after_s,
    )
    app.add_middleware(LimitBody, limit=api.limits.max_upload_bytes)
    app.add_middleware(RequireToken, tokens=api.tokens, pipeline_home=api.pipeline_home)
    return app
