"""API tokens: created, listed and revoked by `whisper-pipeline api-token`, kept hashed in
`<home>/api/tokens.json` (beside the registry, where every API host of the deployment reads
them), compared in constant time. A token is shown once, when it is created."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from whisper_pipeline.core.fileio import exclusive_lock, write_text_atomic
from whisper_pipeline.storage import home

PREFIX = "wp_"  # tells a whisper-pipeline token apart in a config file or a leaked log


class TokenError(ValueError):
    """A token name that cannot be used (taken, unknown, not one line of text)."""


@dataclass(frozen=True)
class StoredToken:
    name: str
    sha256: str
    created_at: str
    hint: str  # the token's last four characters, to tell tokens apart in a listing


def _digest(token: str) -> str:
    # tokens are 256 random bits: a plain hash cannot be searched backwards
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The tokens of one pipeline home."""

    def __init__(self, pipeline_home: Path) -> None:
        self.path = home.api_dir(pipeline_home) / "tokens.json"

    def _read(self) -> list[StoredToken]:
        if not self.path.exists():
            return []
        return [StoredToken(**item) for item in json.loads(self.path.read_text("utf-8"))]

    def _write(self, tokens: list[StoredToken]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps([asdict(t) for t in tokens], indent=1))

    def create(self, name: str) -> str:
        """A new token named `name`; the only time its value is seen."""
        name = name.strip()
        if not name or not name.isprintable() or len(name) > 100:
            raise TokenError("a token name is one line of printable text, up to 100 characters")
        token = PREFIX + secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_suffix(".lock")):
            tokens = self._read()
            if any(t.name == name for t in tokens):
                raise TokenError(f"a token named {name!r} exists: revoke it first")
            created = datetime.now(UTC).isoformat(timespec="seconds")
            self._write([*tokens, StoredToken(name, _digest(token), created, token[-4:])])
        return token

    def list(self) -> list[StoredToken]:
        return self._read()

    def revoke(self, name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_suffix(".lock")):
            tokens = self._read()
            if not any(t.name == name for t in tokens):
                raise TokenError(f"no token named {name!r}")
            self._write([t for t in tokens if t.name != name])

    def holder(self, token: str) -> str | None:
        """The name of the token `token` is, or None. Every stored hash is compared, in
        constant time each, so the answer's timing says nothing of which exist."""
        digest = _digest(token)
        found = None
        for stored in self._read():
            if hmac.compare_digest(stored.sha256, digest):
                found = stored.name
        return found
