"""The pyannote SpeakerDiarization assembled from models in memory (its constructor bypassed)
with our clustering in place of its own."""

import numpy as np
import torch

from whisper_pipeline.adapters.pyannote_internals import (
    PipelineParts,
    assembled_speaker_diarization,
)
from whisper_pipeline.adapters.whisperx_internals import bundled_segmentation_checkpoint
from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio


class LoudnessEmbedding:
    """Embeds a window by its loudness: enough for the pipeline to run end to end. The
    attributes are what pyannote reads of an embedding model."""

    sample_rate = SAMPLE_RATE
    metric = "cosine"
    dimension = 2
    min_num_samples = 1600

    def __call__(self, waveforms, masks=None) -> np.ndarray:
        level = waveforms[:, 0].abs().mean(dim=1, keepdim=True).cpu().numpy()
        return np.concatenate([level, np.ones_like(level)], axis=1).astype(np.float32)


def parts(cluster) -> PipelineParts:
    return PipelineParts(
        segmentation_checkpoint=bundled_segmentation_checkpoint(),
        embedding=LoudnessEmbedding(),
        cluster=cluster,
        device="cpu",
        sample_rate=SAMPLE_RATE,
        segmentation_step=0.5,
        segmentation_batch_size=8,
        embedding_batch_size=8,
        onset=0.5,
        min_duration_off=0.0,
    )


def test_the_assembled_pipeline_runs_our_clustering_on_its_segmentation(sample_call):
    calls = []

    def quiet_and_loud(embeddings, min_clusters, max_clusters, num_clusters=None):
        calls.append(embeddings.shape)
        return (embeddings[:, 0] > np.median(embeddings[:, 0])).astype(int)

    pipeline = assembled_speaker_diarization(parts(quiet_and_loud))
    audio = load_audio(sample_call)
    output = pipeline({"waveform": torch.from_numpy(audio[None, :]), "sample_rate": SAMPLE_RATE})
    annotation = getattr(output, "speaker_diarization", output)
    assert calls and calls[0][-1] == 2  # our embedding rows reached our clustering
    assert len(annotation.labels()) == 2  # and its two clusters are the speakers
    speech_s = annotation.get_timeline().support().duration()
    assert 15 < speech_s < 30  # the bundled segmentation found the call's speech
