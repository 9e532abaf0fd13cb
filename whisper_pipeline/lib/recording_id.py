"""Recording ids: the partition keys. Readable, URL- and filesystem-safe, and tied to content."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

HASH_CHARS = 12
MAX_SLUG_CHARS = 48


def content_hash(path: Path, block_bytes: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes: the same content is the same recording, whatever its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def slugify(name: str) -> str:
    """ASCII lower-case slug of a file name's stem: letters, digits and single dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].rstrip("-") or "recording"


def make_recording_id(path: Path, sha256: str, existing_ids: Iterable[str] = ()) -> str:
    """The id for a file with this content: an existing id with the same hash wins (a renamed
    duplicate is the same recording); otherwise `<slug>-<first hash chars>`."""
    suffix = sha256[:HASH_CHARS]
    for existing in existing_ids:
        if existing.endswith(f"-{suffix}"):
            return existing
    return f"{slugify(Path(path).stem)}-{suffix}"
