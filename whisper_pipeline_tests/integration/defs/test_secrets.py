"""A Hugging Face token is never written into config (which Dagster stores with each run and
shows in the UI): a literal is refused everywhere config enters, with the variable to set."""

import os

import pytest
from dagster import DagsterInvalidConfigError, EnvVar, validate_run_config

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
from whisper_pipeline.defs.resources.secrets import LiteralSecretError
from whisper_pipeline.runtime.settings import SettingsError, load_resource_settings

TOKEN = "hf_NotARealTokenButSecret"


def token_config(value) -> dict:
    return {"resources": {"diarizer": {"config": {"hf_token": value}}}}


def test_dagster_refuses_a_literal_token_before_any_run_exists():
    job = defs.resolve_job_def(PROCESS_RECORDING)
    with pytest.raises(DagsterInvalidConfigError, match=r"hf_token must be dict.*env"):
        validate_run_config(job, token_config(TOKEN))
    validate_run_config(job, token_config({"env": "MY_TOKEN"}))  # a variable's name is fine


def test_the_settings_file_refuses_a_literal_token_naming_the_variable(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"resources:\n  diarizer:\n    config:\n      hf_token: {TOKEN}\n")
    with pytest.raises(SettingsError) as refused:
        load_resource_settings(settings)
    message = str(refused.value)
    assert str(settings) in message and "set HF_TOKEN" in message and TOKEN not in message
    settings.write_text("resources:\n  diarizer:\n    config:\n      hf_token: {env: MY_TOKEN}\n")
    bound = SpeakerDiarizer(**load_resource_settings(settings)["diarizer"])
    assert bound.token_variable == "MY_TOKEN"


def test_code_refuses_a_literal_token_without_echoing_it(monkeypatch):
    with pytest.raises(LiteralSecretError) as refused:
        SpeakerDiarizer(hf_token=TOKEN)
    assert TOKEN not in str(refused.value) and "HF_TOKEN" in str(refused.value)
    assert SpeakerDiarizer(hf_token=EnvVar("OTHER")).token_variable == "OTHER"
    assert SpeakerDiarizer().token_variable == "HF_TOKEN"


def test_the_token_is_read_from_the_named_variable_when_the_pipeline_loads(monkeypatch, tmp_path):
    """A pyannote pipeline that cannot load says which variable it read (none set here)."""
    from whisper_pipeline.core.errors import ConfigurationError

    monkeypatch.delenv("MY_TOKEN", raising=False)
    diarizer = SpeakerDiarizer(
        backend="pyannote", pipeline=str(tmp_path / "missing"), hf_token={"env": "MY_TOKEN"}
    )
    with pytest.raises(ConfigurationError, match="set MY_TOKEN to a Hugging Face token"):
        diarizer._load_pretrained("cpu")
    assert "MY_TOKEN" not in os.environ
