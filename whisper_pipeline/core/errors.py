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


class TransientError(Exception):
    """Something went wrong that may not the next time (the network, the GPU's memory): not a
    PipelineError, so the run is left to Dagster's retries; the message says what happened."""


# What a transient cause looks like, by exception class name (anywhere in the chain of causes:
# libraries wrap them) or by message.
TRANSIENT_CLASSES = (
    "OutOfMemoryError",  # torch.cuda.OutOfMemoryError
    "ConnectionError",  # builtins, requests, urllib3's NewConnectionError...
    "Timeout",  # TimeoutError, requests' ReadTimeout / ConnectTimeout
    "ProtocolError",
    "ChunkedEncodingError",
    "IncompleteRead",
)
TRANSIENT_MESSAGES = (
    "cuda out of memory",
    "cublas_status_alloc_failed",
    "cuda error: out of memory",
    "temporary failure in name resolution",
    "connection reset",
    "connection refused",
    "503 server error",
    "502 server error",
    "504 server error",
    "429 client error",
)


def is_transient(error: BaseException) -> bool:
    """Whether `error` (or a cause it wraps) is transient: the GPU out of memory, the network
    down or slow, a server busy. A missing model, a wrong name or a missing token is not."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = [kind.__name__ for kind in type(current).__mro__]
        if any(marker in name for name in names for marker in TRANSIENT_CLASSES):
            return True
        if any(marker in str(current).lower() for marker in TRANSIENT_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


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
