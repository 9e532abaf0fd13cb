"""The pipeline's home folder: Dagster instance, registry, warehouse, exports, inbox."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "WHISPER_PIPELINE_HOME"
DEFAULT_HOME_NAME = "whisper_pipeline_home"


def resolve_home(configured: str | None = None) -> Path:
    """`configured`, else $WHISPER_PIPELINE_HOME, else ./whisper_pipeline_home (absolute)."""
    value = configured or os.environ.get(HOME_ENV) or DEFAULT_HOME_NAME
    return Path(value).expanduser().resolve()


def dagster_home(home: Path) -> Path:
    return home / "dagster"


def inbox_dir(home: Path) -> Path:
    return home / "inbox"


def registry_dir(home: Path) -> Path:
    return home / "registry"


def warehouse_dir(home: Path) -> Path:
    return home / "warehouse"


def outputs_dir(home: Path) -> Path:
    return home / "outputs"


def api_dir(home: Path) -> Path:
    """The HTTP API's own files: its tokens (hashed) and the voice samples a request brings."""
    return home / "api"


def uploads_dir(home: Path) -> Path:
    """Recordings handed in through the HTTP API, one folder per upload."""
    return home / "uploads"
