"""The speech-recognition model family (whisperx on faster-whisper) as a Dagster resource."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import Field

from whisper_pipeline.adapters.whisperx_internals import is_multilingual, set_vad_step, unload
from whisper_pipeline.core.errors import ConfigurationError, TransientError, is_transient
from whisper_pipeline.defs.resources.cached_model import CachedModelResource
from whisper_pipeline.inference.bundled_models import bundled_model_path, bundled_name
from whisper_pipeline.inference.devices import resolve_compute_type, resolve_threads
from whisper_pipeline.inference.language import Detected, detect_language
from whisper_pipeline.inference.model_cache import MODEL_CACHE, quiet_checkpoint_upgrade_notices

BUNDLED_MODEL = "bundled:tiny.en"
LANGUAGE_ID_KEY = ("language-id", "bundled:base", "cpu", "int8")

log = logging.getLogger(__name__)


class WhisperASR(CachedModelResource):
    """Loads whisperx pipelines (VAD + batched faster-whisper) through the shared model cache."""

    model: str = Field(
        default=BUNDLED_MODEL,
        description=(
            "Whisper model: 'bundled:tiny.en' (English) or 'bundled:base' (multilingual), which"
            " ship as packages and work offline; a faster-whisper name such as 'large-v3' or"
            " 'distil-large-v3' (downloaded once into model_dir); or the path of a local"
            " CTranslate2 model folder. See docs/models.md."
        ),
    )
    compute_type: str = Field(
        default="auto",
        description="CTranslate2 compute type; auto = float16 on CUDA, int8 on CPU.",
    )
    batch_size: int = Field(
        default=8, description="Speech chunks decoded together; lower it if GPU memory is short."
    )
    language: str | None = Field(
        default=None,
        description="Language code such as 'en'; None detects it from the first 30 s (English-only models are always 'en').",
    )
    cpu_threads: int = Field(
        default=0,
        description="CTranslate2 CPU threads; 0 = half the worker's cores (OMP_NUM_THREADS when set, else the cores it may use), at least one.",
    )
    vad_onset: float = Field(default=0.5, description="Voice activity onset threshold (0-1).")
    vad_offset: float = Field(default=0.363, description="Voice activity offset threshold (0-1).")
    vad_step_s: float = Field(
        default=2.5,
        gt=0.0,
        le=10.0,
        description="Seconds between the 10 s windows of the voice-activity model. pyannote's default, 1 s, scores every second ten times and made VAD a third of CPU transcription time; 2.5 s (four windows over each second) does a quarter of that work.",
    )
    language_window_s: float = Field(
        default=30.0,
        ge=30.0,
        description="With no language set and a multilingual model, the language is detected in windows of about this many seconds (a recording may switch language); window_s applies otherwise.",
    )
    window_s: float = Field(
        default=120.0,
        ge=30.0,
        description="Audio is decoded and transcribed in windows of about this many seconds, so memory does not grow with the recording's length.",
    )
    keep_non_speech: bool = Field(
        default=False,
        description="Keep text Whisper decodes from what sounds like non-speech (tones, music, noise): by default it is dropped, since Whisper invents words there ('you', 'Thank you.'). See docs/models.md.",
    )
    model_dir: str | None = Field(
        default=None,
        description="Where named models are downloaded to and looked up (Hugging Face cache layout).",
    )
    local_files_only: bool = Field(
        default=False,
        description="Never download: a named model must already be in model_dir or the Hugging Face cache.",
    )

    def model_source(self) -> str:
        bundled = bundled_name(self.model)
        if bundled is not None:
            return str(bundled_model_path(bundled))
        candidate = Path(self.model).expanduser()
        if candidate.exists():
            if not (candidate / "model.bin").exists():
                raise ConfigurationError(
                    f"asr.model {self.model!r} is a folder without model.bin; point it at a"
                    " CTranslate2 Whisper model (convert with ct2-transformers-converter)"
                )
            return str(candidate.resolve())
        return self.model

    def resolved_threads(self) -> int:
        """CTranslate2's CPU threads for this resource (inference/devices.py resolve_threads)."""
        return resolve_threads(self.cpu_threads)

    def model_label(self) -> str:
        bundled = bundled_name(self.model)
        return f"{bundled} (bundled)" if bundled else self.model

    def cache_key(self) -> tuple:
        device = self.resolved_device()
        return (
            "asr",
            self.model,
            device,
            resolve_compute_type(self.compute_type, device),
            self.language,
            self.resolved_threads(),
            self.vad_onset,
            self.vad_offset,
            self.vad_step_s,
        )

    def load_model(self) -> Any:
        import whisperx

        quiet_checkpoint_upgrade_notices()
        _, _, device, compute_type, language, threads, onset, offset, vad_step = self.cache_key()
        source = self.model_source()
        device_index = 0
        if device.startswith("cuda:"):
            device, device_index = "cuda", int(device.split(":", 1)[1])
        try:
            model = whisperx.load_model(
                source,
                device=device,
                device_index=device_index,
                compute_type=compute_type,
                language=language,
                vad_method="pyannote",
                vad_options={"vad_onset": onset, "vad_offset": offset},
                download_root=self.model_dir,
                local_files_only=self.local_files_only,
                threads=threads,
            )
        except OSError as error:
            # a named model that could not be fetched (offline: the hub's errors are OSErrors);
            # a local folder's errors and any other (an unknown name, CUDA out of memory, an
            # unsupported compute type) keep their own message; a network failure is retried
            if Path(source).exists():
                raise
            if is_transient(error):
                raise TransientError(
                    f"Whisper model {self.model!r} could not be fetched for now"
                    f" ({type(error).__name__}: {error})"
                ) from error
            raise ConfigurationError(
                f"Whisper model {self.model!r} could not be loaded ({type(error).__name__}: {error})."
                " Without internet, download it beforehand into model_dir (see docs/models.md) or"
                " set asr.model to a local CTranslate2 folder or 'bundled:tiny.en'."
            ) from error
        if not set_vad_step(model, vad_step):
            log.warning("whisperx VAD layout not recognised: vad_step_s=%s not applied", vad_step)
        return model

    def windows_of(self, pipeline: Any) -> float:
        """Window length for this loaded pipeline: shorter where the language is detected."""
        if self.language is None and is_multilingual(pipeline):
            return min(self.window_s, self.language_window_s)
        return self.window_s

    def identify_language(self, samples: Any) -> Detected | None:
        """The language of `samples` by the bundled multilingual model (int8 on the CPU: one
        30 s encoder pass), for transcripts of English-only models that look wrong."""

        def load() -> Any:
            from faster_whisper import WhisperModel

            return WhisperModel(str(bundled_model_path("base")), device="cpu", compute_type="int8")

        with MODEL_CACHE.borrow(LANGUAGE_ID_KEY, load) as borrowed:
            return detect_language(borrowed.model, samples)

    def release_model(self, model: Any) -> None:
        unload(model)
