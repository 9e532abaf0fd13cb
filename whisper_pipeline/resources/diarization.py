"""The speaker-diarization model family as a Dagster resource."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field

from whisper_pipeline.lib.audio import SAMPLE_RATE
from whisper_pipeline.lib.errors import ConfigurationError
from whisper_pipeline.lib.records import Diarization, SpeakerTurn
from whisper_pipeline.resources.cached_model import CachedModelResource

NOT_CONFIGURED = (
    "no diarization pipeline configured; set resources.diarizer.config.pipeline to a pyannote"
    " pipeline (a Hugging Face name such as pyannote/speaker-diarization-community-1 with the"
    " HF_TOKEN environment variable, or a local pipeline folder)"
)


class SpeakerDiarizer(CachedModelResource):
    """Who spoke when: a pyannote.audio pipeline, loaded through the shared model cache."""

    pipeline: str | None = Field(
        default=None,
        description=(
            "pyannote pipeline: a Hugging Face name (needs the token in hf_token_env) or a local"
            " folder with config.yaml. None skips diarization, saying so in the step's metadata."
        ),
    )
    hf_token: str | None = Field(
        default=None,
        description="Hugging Face token; set it only as EnvVar('HF_TOKEN') (read at launch, hidden in the UI). When unset, the variable named by hf_token_env is read, if present.",
    )
    hf_token_env: str = Field(
        default="HF_TOKEN",
        description="Name of the environment variable holding the Hugging Face token, read when the pipeline loads (optional).",
    )
    cache_dir: str | None = Field(
        default=None, description="Hugging Face cache folder for pipeline weights."
    )
    num_speakers: int | None = Field(
        default=None, description="Exact number of speakers, when known."
    )
    min_speakers: int | None = Field(
        default=None, description="Lower bound on the number of speakers."
    )
    max_speakers: int | None = Field(
        default=None, description="Upper bound on the number of speakers."
    )

    def cache_key(self) -> tuple:
        return ("diarization", self.pipeline, self.resolved_device(), self.cache_dir)

    def load_model(self) -> Any:
        from whisperx.diarize import DiarizationPipeline

        token = self.hf_token or os.environ.get(self.hf_token_env) or None
        try:
            return DiarizationPipeline(
                model_name=self.pipeline,
                token=token,
                device=self.resolved_device(),
                cache_dir=self.cache_dir,
            )
        except Exception as error:
            hint = "" if token else f" and set {self.hf_token_env} to a Hugging Face token"
            raise ConfigurationError(
                f"diarization pipeline {self.pipeline!r} could not be loaded"
                f" ({type(error).__name__}: {error}). Download it beforehand{hint}, or point"
                " diarizer.pipeline at a local folder (see docs/configuration.md)"
            ) from error

    def release_model(self, model: Any) -> None:
        import torch

        model.model.to(torch.device("cpu"))

    def diarize(
        self, loaded: Any, audio: np.ndarray, on_progress: Callable[[float], None] | None = None
    ) -> Diarization:
        """Speaker turns of `audio`; `on_progress(position_s)` as pyannote moves through it."""
        started = time.monotonic()
        duration_s = len(audio) / SAMPLE_RATE

        def progress(percent: float) -> None:
            if on_progress is not None:
                on_progress(duration_s * min(percent, 100.0) / 100.0)

        frame = loaded(
            audio,
            num_speakers=self.num_speakers,
            min_speakers=self.min_speakers,
            max_speakers=self.max_speakers,
            progress_callback=progress,
        )
        turns = tuple(
            SpeakerTurn(round(float(row.start), 3), round(float(row.end), 3), str(row.speaker))
            for row in frame.itertuples()
        )
        return Diarization(
            turns=turns,
            backend=f"pyannote:{self.pipeline}",
            seconds=round(time.monotonic() - started, 3),
            extra={"audio_s": len(audio) / SAMPLE_RATE},
        )
