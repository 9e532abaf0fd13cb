"""The word-alignment model family (wav2vec2 through whisperx) as a Dagster resource.

Optional: without a configured model, word timestamps come from Whisper itself."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from pydantic import Field

from whisper_pipeline.defs.resources.cached_model import CachedModelResource
from whisper_pipeline.inference.transcription import AlignmentModel


class WordAlignment(CachedModelResource):
    """A wav2vec2 model for word timestamps; None (the default) uses Whisper's own timing."""

    model: str | None = Field(
        default=None,
        description=(
            "wav2vec2 alignment model: a torchaudio bundle or Hugging Face name (e.g."
            " WAV2VEC2_ASR_BASE_960H) or a local folder. None uses Whisper's cross-attention"
            " word timestamps, which need no download."
        ),
    )
    language: str = Field(default="en", description="Language the alignment model is for.")
    model_dir: str | None = Field(
        default=None, description="Download/cache folder for alignment models."
    )

    def cache_key(self) -> tuple:
        return ("alignment", self.model, self.language, self.resolved_device(), self.model_dir)

    def load_model(self) -> AlignmentModel:
        import whisperx

        device = self.resolved_device()
        model, metadata = whisperx.load_align_model(
            language_code=self.language,
            device=device,
            model_name=self.model,
            model_dir=self.model_dir,
        )
        return AlignmentModel(model=model, metadata=metadata, device=device, name=str(self.model))

    def release_model(self, model: AlignmentModel) -> None:
        model.model.to("cpu")

    @contextmanager
    def borrow_if_configured(self) -> Iterator[tuple[AlignmentModel | None, str | None]]:
        """(model, None) when configured and loadable; (None, why not) otherwise."""
        if not self.model:
            yield None, None
            return
        with ExitStack() as stack:
            model, reason = None, None
            try:
                model = stack.enter_context(self.borrow()).model
            except (OSError, ValueError) as error:
                # not downloadable (offline: the hub's and urllib's errors are OSErrors) or no
                # model for the language: fall back. Anything else (CUDA out of memory, a broken
                # install) fails the step with its own message.
                reason = (
                    f"alignment model {self.model!r} unavailable: {type(error).__name__}: {error}"
                )
            yield model, reason
