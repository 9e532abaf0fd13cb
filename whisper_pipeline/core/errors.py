"""Errors that name the file, the step and what to do, so a failed run explains itself."""

from __future__ import annotations

from whisper_pipeline.core.display import label


class PipelineError(Exception):
    """Base class of the errors this package raises on purpose."""


class RecordingError(PipelineError):
    """A recording that cannot be processed: missing, empty, undecodable, moved."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = path
        self.problem = problem
        self.hint = hint
        message = f"{label(path)}: {label(problem)}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ConfigurationError(PipelineError):
    """A setting that points at something unusable; the message says what to set."""


class StepFailure(PipelineError):
    """Wraps any exception from a pipeline step with the step name and progress reached."""

    def __init__(self, step: str, cause: BaseException, segments: int | None = None) -> None:
        self.step = step
        self.cause = cause
        self.segments = segments
        where = f"Step {step} failed"
        if segments is not None:
            where += f" after {segments} segments"
        # our own errors explain themselves; others keep their type, which helps bug reports
        detail = (
            str(cause) if isinstance(cause, PipelineError) else f"{type(cause).__name__}: {cause}"
        )
        super().__init__(f"{where}: {detail}")


def interrupted_message(step: str | None, segments: int | str | None = None) -> str:
    """'Step transcribe interrupted after 12 segments (run terminated)': what a terminated run
    says, in its failures row and in `status`."""
    if step is None:
        return "Interrupted before its first step (run terminated)"
    where = f" after {segments} segments" if segments is not None else ""
    return f"Step {step} interrupted{where} (run terminated)"
