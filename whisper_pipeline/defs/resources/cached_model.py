"""What every model-family resource shares: borrowing from the process-wide model cache,
device choice, and release at the end of a run."""

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from whisper_pipeline.inference.devices import resolve_device
from whisper_pipeline.inference.model_cache import MODEL_CACHE, Borrowed, free_memory_logged


class CachedModelResource(ConfigurableResource):
    """A model family: subclasses say how to key, load and release one model."""

    device: str = Field(
        default="auto", description="auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
    )
    eager_release: bool = Field(
        default=False,
        description="Release the model as soon as no step uses it (frees GPU memory between steps).",
    )
    release_after_run: bool | None = Field(
        default=None,
        description="Release the model when the run ends. Default (None): release, unless the run executes in a long-lived worker (`whisper-pipeline worker`, the CLI's own worker), which keeps models loaded for its next runs and releases them when it stops.",
    )
    max_loaded_models: int = Field(
        default=3,
        description="At most this many idle models stay loaded in a process (least recently used go first).",
    )
    idle_release_s: float | None = Field(
        default=None,
        description="In long-lived processes, release models nobody has used for this many seconds, so other work gets the GPU back. None keeps them.",
    )

    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def cache_key(self) -> Hashable:
        raise NotImplementedError

    def load_model(self) -> Any:
        raise NotImplementedError

    def release_model(self, model: Any) -> None:
        """Hand the model's memory back (e.g. unload weights); the cache then frees CUDA caches."""

    @contextmanager
    def borrow(self) -> Iterator[Borrowed]:
        """The loaded model, shared with other steps (and runs) of this process."""
        MODEL_CACHE.configure(max_models=self.max_loaded_models, idle_seconds=self.idle_release_s)
        with MODEL_CACHE.borrow(
            self.cache_key(), self.load_model, self.release_model, eager_release=self.eager_release
        ) as borrowed:
            yield borrowed

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """End of run (also after a failure or termination): release the model unless the
        process keeps it for further runs. Releasing gives the accelerator memory back; a kept
        model's steps gave back what they no longer needed when each of them ended."""
        keep = (
            MODEL_CACHE.keep_between_runs
            if self.release_after_run is None
            else not self.release_after_run
        )
        if keep:
            return
        try:
            MODEL_CACHE.release(self.cache_key(), reason="run finished")
        except Exception:
            context.log.exception("releasing %s at the end of the run failed", type(self).__name__)
            free_memory_logged("end of run")
