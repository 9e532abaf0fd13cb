"""The word-alignment model family (wav2vec2 through whisperx) as a Dagster resource.

Optional: without a configured model, word timestamps come from Whisper itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from dagster import ConfigurableResource
from pydantic import Field

from whisper_pipeline.lib.devices import resolve_device
from whisper_pipeline.lib.model_cache import MODEL_CACHE
from whisper_pipeline.lib.transcription import AlignmentModel


def _release_alignment(alignment: AlignmentModel) -> None:
    alignment.model.to("cpu")


class WordAlignment(ConfigurableResource):
    """A wav2vec2 model for word timestamps; None (the default) uses Whisper's own timing."""

    model: str | None = Field(
        default=None,
        description=(
            "wav2vec2 alignment model: a Hugging Face name (e.g. WAV2VEC2_ASR_BASE_960H or"
            " jonatasgrosman/wav2vec2-large-xlsr-53-english) or a local folder. None uses"
            " Whisper's cross-attention word timestamps, which need no download."
        ),
    )
    language: str = Field(default="en", description="Language the alignment model is for.")
    model_dir: str | None = Field(
        default=None, description="Download/cache folder for alignment models."
    )
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")
    eager_release: bool = Field(
        default=False, description="Release the model as soon as no step uses it."
    )

    def cache_key(self) -> tuple:
        return ("alignment", self.model, self.language, resolve_device(self.device), self.model_dir)

    def _load(self) -> AlignmentModel:
        import whisperx

        device = resolve_device(self.device)
        model, metadata = whisperx.load_align_model(
            language_code=self.language,
            device=device,
            model_name=self.model,
            model_dir=self.model_dir,
        )
        return AlignmentModel(model=model, metadata=metadata, device=device, name=str(self.model))

    @contextmanager
    def borrow(self) -> Iterator[tuple[AlignmentModel | None, str | None]]:
        """(model, None) when configured and loadable; (None, why not) otherwise."""
        if not self.model:
            yield None, None
            return
        with ExitStack() as stack:
            model, reason = None, None
            try:
                model = stack.enter_context(
                    MODEL_CACHE.borrow(
                        self.cache_key(),
                        self._load,
                        _release_alignment,
                        eager_release=self.eager_release,
                    )
                ).model
            except Exception as error:  # unavailable offline, unknown language: fall back
                reason = (
                    f"alignment model {self.model!r} unavailable: {type(error).__name__}: {error}"
                )
            yield model, reason
