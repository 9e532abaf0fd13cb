"""Recording ids: the partition keys. Readable, URL- and filesystem-safe, and tied to content."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

HASH_CHARS = 12
MAX_SLUG_CHARS = 48


def content_hash(path: Path, block_bytes: int = 1 << 20, limit_bytes: int | None = None) -> str:
    """SHA-256 of the file's bytes (of its first `limit_bytes` when given): the same content is
    the same recording, whatever its name."""
    digest = hashlib.sha256()
    left = limit_bytes
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes if left is None else min(block_bytes, left)):
            digest.update(block)
            if left is not None:
                left -= len(block)
                if left <= 0:
                    break
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
