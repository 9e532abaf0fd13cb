"""The Dagster instance the CLI, the UI and the containers share, under the pipeline's home.

WHISPER_PIPELINE_INSTANCE picks its configuration: `local` (default: SQLite under DAGSTER_HOME),
`production` (PostgreSQL, queued runs with a gpu pool, run monitoring, retries), or the path of
a dagster.yaml of your own."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, RunsFilter

from whisper_pipeline.core.errors import ConfigurationError
from whisper_pipeline.storage import home

INSTANCE_ENV = "WHISPER_PIPELINE_INSTANCE"
INSTANCE_CONFIGS = {"local": "dagster.yaml", "production": "dagster_production.yaml"}


def instance_config_source(choice: str | None = None) -> Path:
    choice = choice or os.environ.get(INSTANCE_ENV) or "local"
    if choice in INSTANCE_CONFIGS:
        return Path(str(resources.files("whisper_pipeline.config") / INSTANCE_CONFIGS[choice]))
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigurationError(
            f"{INSTANCE_ENV}={choice!r}: use 'local', 'production' or the path of a dagster.yaml"
        )
    return path


def prepare_dagster_home(pipeline_home: Path, choice: str | None = None) -> Path:
    """Point DAGSTER_HOME at `<home>/dagster` (unless already set) and give it a dagster.yaml:
    the chosen configuration, written when missing or when the choice is explicit."""
    target = Path(os.environ.get("DAGSTER_HOME") or home.dagster_home(pipeline_home))
    target.mkdir(parents=True, exist_ok=True)
    config = target / "dagster.yaml"
    explicit = choice or os.environ.get(INSTANCE_ENV)
    if explicit or not config.exists():
        source = instance_config_source(choice)
        if not config.exists() or source.read_bytes() != config.read_bytes():
            shutil.copyfile(source, config)
    else:
        _follow_moved_modules(config)
    os.environ["DAGSTER_HOME"] = str(target)
    os.environ.setdefault(home.HOME_ENV, str(pipeline_home))
    _create_storage_once(target, config)
    return target


# modules an instance's dagster.yaml may name from before the package's layers were folders
MOVED_MODULES = {"whisper_pipeline.launcher": "whisper_pipeline.runtime.launcher"}


def _follow_moved_modules(config: Path) -> None:
    """An existing dagster.yaml naming a module where it used to be (the run launcher's
    `module:`) is pointed at where it is now, so a home made by an earlier version opens."""
    text = config.read_text(encoding="utf-8")
    updated = text
    for old, new in MOVED_MODULES.items():
        updated = updated.replace(f"module: {old}\n", f"module: {new}\n")
    if updated != text:
        config.write_text(updated, encoding="utf-8")


def _create_storage_once(dagster_home: Path, config: Path) -> None:
    """Create the instance's storage (databases and their schema versions) in one process at a
    time. Two processes opening a new SQLite instance together both stamp its schema version,
    which leaves it unusable ("alembic_version has more than one head", dagster-io/dagster
    #27390): two `run` commands started at once, or their workers, would do exactly that."""
    from dagster import DagsterInstance

    from whisper_pipeline.core.fileio import exclusive_lock

    digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12]
    ready = dagster_home / f".storage-ready-{digest}"
    if ready.exists():
        return
    with exclusive_lock(dagster_home / ".storage.lock"):
        if ready.exists():
            return
        DagsterInstance.get().dispose()  # opening an instance creates every storage it has
        ready.touch()


WORKSPACE_YAML = """\
# Written by whisper-pipeline: the code location every UI, daemon and CLI of this home loads,
# under one name, so runs made by any of them re-execute from the others.
load_from:
  - python_module:
      module_name: {module}
      location_name: {location}
"""


def write_workspace(dagster_home: Path) -> Path:
    """`<DAGSTER_HOME>/workspace.yaml` naming the code location `whisper_pipeline`, whatever
    folder the UI is started from (`dagster dev -m MODULE` would name it after the module)."""
    from whisper_pipeline import CODE_LOCATION

    path = dagster_home / "workspace.yaml"
    text = WORKSPACE_YAML.format(module="whisper_pipeline.definitions", location=CODE_LOCATION)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def runs_by_id(instance: DagsterInstance, run_ids: Iterable[str], **where) -> list[DagsterRun]:
    """The runs with these ids (none for no ids: Dagster refuses an empty id filter)."""
    run_ids = list(run_ids)
    return instance.get_runs(RunsFilter(run_ids=run_ids, **where)) if run_ids else []
