"""A deployment's settings without code changes: resource config in a YAML file, read when the
code location loads, so sensors, schedules and launched runs all use it.

The file has the shape of a run config's `resources:` section (what `run --config` and the
launchpad take); `{env: NAME}` reads an environment variable when the resource is used."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from dagster import EnvVar

from whisper_pipeline.defs.resources.secrets import LiteralSecretError, refuse_literal_secrets
from whisper_pipeline.storage import home

SETTINGS_ENV = "WHISPER_PIPELINE_SETTINGS"
SETTINGS_NAME = "settings.yaml"


class SettingsError(ValueError):
    """The settings file cannot be used; the message names the file and the problem."""


def settings_path() -> Path | None:
    """$WHISPER_PIPELINE_SETTINGS, else <home>/settings.yaml when it exists."""
    configured = os.environ.get(SETTINGS_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise SettingsError(f"{SETTINGS_ENV}={configured}: no such settings file")
        return path
    default = home.resolve_home() / SETTINGS_NAME
    return default if default.is_file() else None


def _with_env_vars(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"env"}:
        return EnvVar(str(value["env"]))
    return value


def load_resource_settings(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """{resource name: {field: value}} from the settings file; {} when there is none."""
    path = path or settings_path()
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {error}") from error
    resources = data.get("resources", {}) if isinstance(data, dict) else None
    if not isinstance(resources, dict):
        raise SettingsError(f"{path}: expected a mapping `resources: {{name: {{config: ...}}}}`")
    try:
        refuse_literal_secrets(resources, where=str(path))
    except LiteralSecretError as error:
        raise SettingsError(str(error)) from error
    settings = {}
    for name, section in resources.items():
        config = (section or {}).get("config", {}) if isinstance(section, dict) else None
        if not isinstance(config, dict):
            raise SettingsError(f"{path}: resources.{name} must be `{{config: {{...}}}}`")
        settings[name] = {key: _with_env_vars(value) for key, value in config.items()}
    return settings


def as_run_config(settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same settings as a run config's `resources:` section ({env: NAME} kept as such).
    A run that passes run config for a resource replaces the values the code location bound,
    so whoever writes run config for a resource starts from these."""

    def plain(value: Any) -> Any:
        return {"env": value.env_var_name} if isinstance(value, EnvVar) else value

    return {
        name: {"config": {key: plain(value) for key, value in config.items()}}
        for name, config in settings.items()
    }


def with_settings(run_config: dict) -> dict:
    """Run config for a resource replaces what the settings file bound to it: a resource given
    in `run_config` starts from the settings file's values (changed in place and returned)."""
    settings = as_run_config(load_resource_settings())
    for name, section in (run_config.get("resources") or {}).items():
        given = (section or {}).get("config") or {}
        section["config"] = {**settings.get(name, {}).get("config", {}), **given}
    return run_config
