"""The library versions whose internals the adapters were tested against."""

from __future__ import annotations

import importlib.metadata
import os
import warnings

from packaging.specifiers import SpecifierSet
from packaging.version import Version

# set to 1 to run with an untested library version anyway (a warning instead of an error)
ALLOW_UNTESTED = "WHISPER_PIPELINE_ALLOW_UNTESTED_LIBRARIES"


class UnsupportedLibraryVersion(RuntimeError):
    """An installed library is a version whose internals the pipeline was not tested with."""


def require(distribution: str, supported: str) -> str:
    """The installed version of `distribution`, refused unless it is in `supported` (a PEP 440
    specifier such as ">=1.13,<1.14")."""
    installed = importlib.metadata.version(distribution)
    if Version(installed) in SpecifierSet(supported):
        return installed
    message = (
        f"{distribution} {installed} is installed, but whisper_pipeline relies on internals of"
        f" {distribution} {supported} (whisper_pipeline/adapters/). Install the versions in"
        " requirements.lock (pip install -c requirements.lock -e .), or set"
        f" {ALLOW_UNTESTED}=1 to try this version anyway"
    )
    if os.environ.get(ALLOW_UNTESTED) == "1":
        warnings.warn(message, stacklevel=2)
        return installed
    raise UnsupportedLibraryVersion(message)
