"""Export links a browser can open without an API token: the UI's export entries point at
`<exports_url>/<recording id>/<file>?sig=<signature>`, and the HTTP API serves a file whose
signature matches its path. A browser cannot send the `Authorization` header the API asks for.

The signature is an HMAC of the file's path under the deployment's link key:
$WHISPER_PIPELINE_LINK_KEY when set (every host of a deployment alike), else
`<home>/api/link_key`, made on first use. A link names one file and does not expire; replacing
the key voids every link given out (the UI shows new ones as recordings are processed again)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from whisper_pipeline.core.fileio import exclusive_lock
from whisper_pipeline.storage import home

LINK_KEY_ENV = "WHISPER_PIPELINE_LINK_KEY"


def link_key(pipeline_home: Path) -> bytes:
    """The deployment's link key (made, readable by this user only, on first use)."""
    given = os.environ.get(LINK_KEY_ENV, "").strip()
    if given:
        return given.encode("utf-8")
    path = home.api_dir(pipeline_home) / "link_key"
    if not path.exists():
        with exclusive_lock(path.with_suffix(".lock")):
            if not path.exists():
                made = path.with_name(f".link_key.{os.getpid()}")
                made.write_text(secrets.token_urlsafe(32), encoding="utf-8")
                made.chmod(0o600)
                made.replace(path)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def signature(key: bytes, relative_path: str) -> str:
    """The signature of `<recording id>/<file>` (128 bits, URL-safe)."""
    digest = hmac.new(key, relative_path.encode("utf-8"), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def signed_link(base_url: str, key: bytes, relative_path: str) -> str:
    """`<base_url>/<recording id>/<file>?sig=...`."""
    url = f"{base_url.rstrip('/')}/{quote(relative_path)}"
    return f"{url}?sig={signature(key, relative_path)}"


def is_signed(key: bytes, relative_path: str, given: str) -> bool:
    """The signature `given` was made for this path under this key (constant-time compare)."""
    return hmac.compare_digest(signature(key, relative_path), given)
