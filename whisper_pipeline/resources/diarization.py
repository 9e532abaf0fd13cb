"""The speaker-diarization model family as a Dagster resource."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from dagster import ConfigurableResource
from pydantic import Field

from whisper_pipeline.lib.audio import SAMPLE_RATE
from whisper_pipeline.lib.devices import resolve_device
from whisper_pipeline.lib.errors import ConfigurationError
from whisper_pipeline.lib.model_cache import MODEL_CACHE
from whisper_pipeline.lib.records import Diarization, SpeakerTurn

NOT_CONFIGURED = (
    "no diarization pipeline configured; set resources.diarizer.config.pipeline to a pyannote"
    " pipeline (a Hugging Face name such as pyannote/speaker-diarization-community-1 with the"
    " HF_TOKEN environment variable, or a local pipeline folder)"
)


def _release_pipeline(pipeline: Any) -> None:
    import torch

    pipeline.model.to(torch.device("cpu"))


class SpeakerDiarizer(ConfigurableResource):
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
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")
    num_speakers: int | None = Field(
        default=None, description="Exact number of speakers, when known."
    )
    min_speakers: int | None = Field(
        default=None, description="Lower bound on the number of speakers."
    )
    max_speakers: int | None = Field(
        default=None, description="Upper bound on the number of speakers."
    )
    eager_release: bool = Field(
        default=False, description="Release the model as soon as no step uses it."
    )

    def cache_key(self) -> tuple:
        return ("diarization", self.pipeline, resolve_device(self.device), self.cache_dir)

    def _load(self) -> Any:
        from whisperx.diarize import DiarizationPipeline

        token = self.hf_token or os.environ.get(self.hf_token_env) or None
        try:
            return DiarizationPipeline(
                model_name=self.pipeline,
                token=token,
                device=resolve_device(self.device),
                cache_dir=self.cache_dir,
            )
        except Exception as error:
            hint = "" if token else f" and set {self.hf_token_env} to a Hugging Face token"
            raise ConfigurationError(
                f"diarization pipeline {self.pipeline!r} could not be loaded"
                f" ({type(error).__name__}: {error}). Download it beforehand{hint}, or point"
                " diarizer.pipeline at a local folder (see docs/configuration.md)"
            ) from error

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        with MODEL_CACHE.borrow(
            self.cache_key(), self._load, _release_pipeline, eager_release=self.eager_release
        ) as borrowed:
            yield borrowed

    def diarize(self, loaded: Any, audio: np.ndarray) -> Diarization:
        started = time.monotonic()
        frame = loaded(
            audio,
            num_speakers=self.num_speakers,
            min_speakers=self.min_speakers,
            max_speakers=self.max_speakers,
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
