"""The version fence: an untested library version stops the pipeline with a clear message."""

import importlib.metadata

import pytest

from whisper_pipeline.adapters.versions import ALLOW_UNTESTED, UnsupportedLibraryVersion, require


def test_the_installed_versions_pass():
    assert require("dagster", ">=1.13,<1.14") == importlib.metadata.version("dagster")


def test_an_untested_version_is_refused_naming_package_versions_and_the_way_out(monkeypatch):
    monkeypatch.delenv(ALLOW_UNTESTED, raising=False)
    installed = importlib.metadata.version("whisperx")
    with pytest.raises(UnsupportedLibraryVersion) as refused:
        require("whisperx", ">=99")
    message = str(refused.value)
    assert f"whisperx {installed} is installed" in message and ">=99" in message
    assert "requirements.lock" in message and ALLOW_UNTESTED in message


def test_the_way_out_warns_instead(monkeypatch):
    monkeypatch.setenv(ALLOW_UNTESTED, "1")
    with pytest.warns(UserWarning, match="relies on internals of whisperx >=99"):
        assert require("whisperx", ">=99") == importlib.metadata.version("whisperx")
