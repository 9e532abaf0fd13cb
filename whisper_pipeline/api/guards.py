"""What every request passes before a route reads a byte of its body (ASGI middleware): a valid
API token, or for an export file a signed link (storage/export_links.py; 401 otherwise, saying
nothing of what exists), the upload size limit (413, from the
Content-Length header at once, or counted as a body without one streams), and the limit on
uploads and synchronous transcriptions at a time (429 with Retry-After)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from whisper_pipeline.api.tokens import TokenStore
from whisper_pipeline.storage import export_links

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# answered without a token: liveness, readiness, the API's own description
OPEN_PATHS = ("/health", "/ready", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
# export files: a GET with the signature of its path needs no token (links on the UI's pages)
EXPORTS_PREFIX = "/v1/exports/"
# what uploads a recording or waits for one: limited in number at a time
HEAVY = {
    ("POST", "/v1/recordings"),
    ("POST", "/asr"),
    ("POST", "/detect-language"),
    ("POST", "/v1/audio/transcriptions"),
}


async def respond(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def openai_error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape, which its SDK reads into its exceptions."""
    kinds = {401: "authentication_error", 429: "rate_limit_exceeded"}
    kind = kinds.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """OpenAI's error shape on its endpoints, FastAPI's elsewhere."""
    if path.startswith("/v1/audio/") or path == "/v1/models":
        return openai_error_body(status, message)
    return {"detail": message}


class RequireToken:
    """Every path but the open ones needs `Authorization: Bearer <token>` of a token that
    exists, or (an export file) the signature of its path; a missing, malformed, wrong or
    revoked token and a wrong signature get the same 401."""

    def __init__(self, app: App, tokens: TokenStore, pipeline_home: Path) -> None:
        self.app = app
        self.tokens = tokens
        self.pipeline_home = pipeline_home

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._signed_export(scope):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"authorization") or ""
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or not self.tokens.holder(token.strip()):
            body = error_body(scope["path"], 401, "a valid API token is required")
            await respond(send, 401, body, {"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)

    def _signed_export(self, scope: Scope) -> bool:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD") or not path.startswith(EXPORTS_PREFIX):
            return False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("sig", [""])[0]
        key = export_links.link_key(self.pipeline_home)
        return bool(given) and export_links.is_signed(key, path[len(EXPORTS_PREFIX) :], given)


class BodyTooLarge(Exception):
    pass


class LimitBody:
    """No request body over `limit` bytes: refused from its Content-Length before it is read,
    or stopped as it streams past the limit (what was received is dropped with it)."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the upload is larger than the limit of {self.limit} bytes"
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await respond(
                send, 413, error_body(scope["path"], 413, message), {"Connection": "close"}
            )
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge(message)
            return incoming

        async def guarded_send(outgoing: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 below is the answer
            started = started or outgoing["type"] == "http.response.start"
            await send(outgoing)

        with contextlib.suppress(BodyTooLarge):  # answered below
            await self.app(scope, counted, guarded_send)
        if exceeded and not started:
            await respond(
                send, 413, error_body(scope["path"], 413, message), {"Connection": "close"}
            )


class LimitConcurrency:
    """At most `limit` uploads and synchronous transcriptions at a time; another is answered
    429 with Retry-After before its body is read. Status polls are never limited."""

    def __init__(self, app: App, limit: int, retry_after_s: int) -> None:
        self.app = app
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in HEAVY:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            message = f"{self.limit} uploads are being handled: try again in {self.retry_after_s} s"
            body = error_body(scope["path"], 429, message)
            await respond(send, 429, body, {"Retry-After": str(self.retry_after_s)})
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
