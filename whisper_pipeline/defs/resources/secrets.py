"""Secrets come from environment variables, never from config: a run's config is stored with
the run and shown in the UI's launchpad and run view, so a token written there would leak.

A secret setting takes the *name* of a variable, `{env: NAME}`; Dagster's config check then
refuses a literal string before any run exists, and the places this project reads config itself
(the settings file, `run --config`, resources built in code) refuse it with the variable to set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Config, EnvVar
from pydantic import Field

from whisper_pipeline.core.errors import ConfigurationError

# secret settings: resource -> field -> the variable read when the setting is left out
SECRET_SETTINGS: dict[str, dict[str, str]] = {"diarizer": {"hf_token": "HF_TOKEN"}}


class FromEnvironment(Config):
    """`{env: NAME}`: the secret is read from the environment variable NAME when it is used."""

    env: str = Field(description="Name of the environment variable holding the secret.")


class LiteralSecretError(ConfigurationError):
    """A secret was written into config. Deliberately not a ValueError: pydantic would echo
    the value it refused."""


def literal_secret_message(resource: str, field: str, where: str = "config") -> str:
    variable = SECRET_SETTINGS.get(resource, {}).get(field, "A_VARIABLE")
    return (
        f"resources.{resource}.config.{field} in {where} holds a literal secret: it would be"
        " stored with every run and shown in the Dagster UI, so it is refused. Put it in the"
        f" environment of the worker instead: set {variable} (read by default), or name another"
        f" variable with `{field}: {{env: MY_VARIABLE}}`"
    )


def from_environment(value: Any, resource: str, field: str) -> Any:
    """A secret setting as given in code or config: EnvVar and {env: NAME} pass (as a
    variable name), a plain string is refused."""
    if isinstance(value, EnvVar):
        return {"env": value.env_var_name}
    if isinstance(value, str):
        raise LiteralSecretError(literal_secret_message(resource, field))
    return value


def variable_name(value: Any, default: str) -> str:
    """The variable a secret setting names, in any form it has before or during a run (an
    EnvVar until Dagster resolves the resource's config, {env: NAME}, FromEnvironment)."""
    if value is None:
        return default
    if isinstance(value, EnvVar):
        return value.env_var_name
    if isinstance(value, Mapping):
        return str(value["env"])
    return value.env


def refuse_literal_secrets(resources: Mapping[str, Any], where: str) -> None:
    """Raise LiteralSecretError for a secret written as a plain string in a run config's or
    settings file's `resources:` section (the value never appears in the message)."""
    for resource, fields in SECRET_SETTINGS.items():
        section = resources.get(resource)
        config = section.get("config") if isinstance(section, Mapping) else None
        if not isinstance(config, Mapping):
            continue
        for field in fields:
            value = config.get(field)
            if isinstance(value, str) and not isinstance(value, EnvVar):
                raise LiteralSecretError(literal_secret_message(resource, field, where))
