"""The speaker-diarization model family as a Dagster resource: the offline backend (bundled
weights, the default) or a configured pretrained pyannote pipeline."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from whisper_pipeline.lib.audio import SAMPLE_RATE
from whisper_pipeline.lib.errors import ConfigurationError
from whisper_pipeline.lib.records import Diarization, SpeakerTurn
from whisper_pipeline.lib.voices import (
    VoiceEncoder,
    VoiceLibrary,
    folder_fingerprint,
    load_voice_library,
    name_speakers,
    speaker_vectors,
)
from whisper_pipeline.resources.cached_model import CachedModelResource
from whisper_pipeline.resources.secrets import (
    SECRET_SETTINGS,
    FromEnvironment,
    from_environment,
    variable_name,
)

DISABLED = "diarization is disabled (resources.diarizer.config.backend is 'none')"


@dataclass(frozen=True)
class SpeakerCounts:
    """What is known about how many people speak (None: automatic)."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def override(self, other: SpeakerCounts | None) -> SpeakerCounts:
        """`other`'s values where it sets them (a recording's own over the run's)."""
        if other is None:
            return self
        if other.num_speakers is not None:
            return other
        return SpeakerCounts(
            self.num_speakers
            if other.min_speakers is None and other.max_speakers is None
            else None,
            other.min_speakers if other.min_speakers is not None else self.min_speakers,
            other.max_speakers if other.max_speakers is not None else self.max_speakers,
        )

    def check(self) -> None:
        for name, value in vars(self).items():
            if value is not None and value < 1:
                raise ConfigurationError(f"{name} must be at least 1 (got {value})")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ConfigurationError(
                f"min_speakers ({self.min_speakers}) is larger than max_speakers ({self.max_speakers})"
            )


@dataclass
class LoadedDiarizer:
    """What the cache holds: the pyannote pipeline, the voice encoder, and the named voices."""

    pipeline: Any
    encoder: VoiceEncoder
    voices: VoiceLibrary | None
    backend: str


class SpeakerDiarizer(CachedModelResource):
    """Who spoke when, loaded through the shared model cache."""

    backend: Literal["auto", "offline", "pyannote", "none"] = Field(
        default="auto",
        description=(
            "offline: bundled models only (whisperx's segmentation model + Resemblyzer voice"
            " vectors), nothing downloaded. pyannote: the pretrained pipeline named in"
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
        default=0.8,
        description="Cosine similarity of voice vectors at or above which a speaker gets a sample's name.",
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
        encoder = VoiceEncoder(device)
        if backend == "offline":
            from whisper_pipeline.lib.offline_diarization import build_offline_pipeline

            pipeline = build_offline_pipeline(encoder, device)
        else:
            pipeline = self._load_pretrained(device)
        voices = load_voice_library(self.voices_dir, encoder) if self.voices_dir else None
        return LoadedDiarizer(pipeline, encoder, voices, backend)

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
            hint = "" if token else f" and set {self.token_variable} to a Hugging Face token"
            raise ConfigurationError(
                f"diarization pipeline {self.pipeline!r} could not be loaded"
                f" ({type(error).__name__}: {error}). Download it beforehand{hint}, point"
                " diarizer.pipeline at a local folder, or use backend: offline (see"
                " docs/diarization.md)"
            ) from error

    def release_model(self, model: LoadedDiarizer) -> None:
        import torch

        model.encoder.encoder.to(torch.device("cpu"))
        if hasattr(model.pipeline, "to"):
            model.pipeline.to(torch.device("cpu"))

    def diarize(
        self,
        loaded: LoadedDiarizer,
        audio: np.ndarray,
        counts: SpeakerCounts | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Diarization:
        """Speaker turns of `audio` (overlaps kept), a voice vector per speaker, and names
        from the voices folder; `on_progress(position_s)` as the pipeline moves along."""
        from whisper_pipeline.lib.offline_diarization import progress_hook

        counts = self.counts().override(counts)
        counts.check()
        started = time.monotonic()
        duration_s = len(audio) / SAMPLE_RATE
        turns: tuple[SpeakerTurn, ...] = ()
        if len(audio) >= SAMPLE_RATE // 2:  # pyannote needs some audio to look at
            import torch

            output = loaded.pipeline(
                {"waveform": torch.from_numpy(audio[None, :]), "sample_rate": SAMPLE_RATE},
                num_speakers=counts.num_speakers,
                min_speakers=counts.min_speakers,
                max_speakers=counts.max_speakers,
                hook=progress_hook(duration_s, on_progress),
            )
            annotation = getattr(output, "speaker_diarization", output)
            turns = tuple(
                SpeakerTurn(round(segment.start, 3), round(segment.end, 3), str(label))
                for segment, _, label in annotation.itertracks(yield_label=True)
            )
        vectors = speaker_vectors(loaded.encoder, audio, turns)
        names: dict[str, tuple[str, float]] = {}
        if loaded.voices is not None:
            names = name_speakers(vectors, loaded.voices, self.voice_match_threshold)
            turns = tuple(
                SpeakerTurn(t.start_s, t.end_s, names[t.speaker][0]) if t.speaker in names else t
                for t in turns
            )
            vectors = {names.get(s, (s,))[0]: v for s, v in vectors.items()}
        return Diarization(
            turns=turns,
            backend="offline" if loaded.backend == "offline" else f"pyannote:{self.pipeline}",
            seconds=round(time.monotonic() - started, 3),
            voice_vectors={s: tuple(float(x) for x in v) for s, v in vectors.items()},
            named={name: similarity for name, similarity in names.values()},
            extra={"audio_s": duration_s},
        )
