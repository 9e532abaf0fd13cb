"""The Dagster instance the CLI and the UI share, under the pipeline's home folder."""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from whisper_pipeline import home


def prepare_dagster_home(pipeline_home: Path) -> Path:
    """Point DAGSTER_HOME at `<home>/dagster` (unless already set) and give it a dagster.yaml."""
    target = Path(os.environ.get("DAGSTER_HOME") or home.dagster_home(pipeline_home))
    target.mkdir(parents=True, exist_ok=True)
    config = target / "dagster.yaml"
    if not config.exists():
        with resources.as_file(resources.files("whisper_pipeline.config") / "dagster.yaml") as src:
            shutil.copyfile(src, config)
    os.environ["DAGSTER_HOME"] = str(target)
    os.environ.setdefault(home.HOME_ENV, str(pipeline_home))
    return target
