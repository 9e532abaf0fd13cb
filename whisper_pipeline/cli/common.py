"""What the commands share: the pipeline home, its Dagster instance and storage, run config
files, and the settings file's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from whisper_pipeline.storage import home

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from whisper_pipeline.defs.resources.storage import PipelineStorage

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl+C


@dataclass(frozen=True)
class Options:
    """The options given before the command (`whisper-pipeline --home DIR COMMAND`)."""

    home: str | None
    verbose: bool

    @property
    def pipeline_home(self) -> Path:
        return home.resolve_home(self.home)


pass_options = click.make_pass_decorator(Options)


def open_instance(pipeline_home: Path) -> DagsterInstance:
    """The Dagster instance of the pipeline home (prepared on first use)."""
    from dagster import DagsterInstance

    from whisper_pipeline.runtime.instance import prepare_dagster_home

    prepare_dagster_home(pipeline_home)
    return DagsterInstance.get()


def open_storage(pipeline_home: Path) -> PipelineStorage:
    from whisper_pipeline.defs.resources.storage import PipelineStorage

    return PipelineStorage(home_dir=str(pipeline_home))


def load_run_config(path: str | None) -> dict:
    """A Dagster run config file (YAML), as pasted into the UI's launchpad."""
    if not path:
        return {}
    import yaml

    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: a run config must be a mapping (resources: ...)")
    from whisper_pipeline.defs.resources.secrets import LiteralSecretError, refuse_literal_secrets

    try:
        refuse_literal_secrets(loaded.get("resources") or {}, where=path)
    except LiteralSecretError as error:
        raise SystemExit(str(error)) from error
    return loaded


def with_settings(run_config: dict) -> dict:
    """Run config for a resource starts from the settings file's values (runtime/settings.py)."""
    from whisper_pipeline.runtime.settings import with_settings as merged

    return merged(run_config)


def resource_config(run_config: dict, name: str) -> dict[str, Any]:
    """The config a run config gives resource `name` (empty when none)."""
    return dict(((run_config.get("resources") or {}).get(name) or {}).get("config") or {})


def report_settled(instance: DagsterInstance, run_ids: list[str]) -> None:
    """Say which runs a killed command or worker had left looking alive, and how they ended."""
    from whisper_pipeline.runtime.status import run_error

    for run_id in run_ids:
        click.echo(f"run {run_id} was left behind: {run_error(instance, run_id)}", err=True)
