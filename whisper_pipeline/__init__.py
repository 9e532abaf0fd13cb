"""whisper_pipeline: a Dagster code location turning recordings into speaker-attributed
transcripts and DuckDB analytics. Importing it loads no model and touches no disk.

`dagster dev -m whisper_pipeline` finds `defs` here (loaded on first access), so the code
location is named `whisper_pipeline` however it is loaded: `-m whisper_pipeline`, the
repository's workspace.yaml, or `whisper-pipeline ui`. Runs made by any of them re-execute
from any other."""

from typing import Any

CODE_LOCATION = "whisper_pipeline"


def __getattr__(name: str) -> Any:
    if name == "defs":
        from whisper_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
