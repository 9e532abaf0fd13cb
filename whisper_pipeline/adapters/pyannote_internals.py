"""What the pipeline uses of pyannote.audio beyond its public API: a SpeakerDiarization
pipeline assembled from models already in memory (its constructor insists on loading a PLDA
and a named embedding model from Hugging Face), with our own clustering in place of its
agglomerative one (BaseClustering's `cluster`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whisper_pipeline.adapters.versions import require

PYANNOTE_VERSION = require("pyannote.audio", ">=4.0,<4.1")

# (embeddings, min_clusters, max_clusters, num_clusters) -> cluster index per embedding
ClusterFunction = Callable[[Any, int, int, int | None], Any]


@dataclass(frozen=True)
class PipelineParts:
    """What the assembled pipeline is made of, and its settings."""

    segmentation_checkpoint: str
    # callable: (batch, 1, samples) waveforms, (batch, frames) masks -> one row each (NaN
    # where too little speech), with the attributes pyannote reads: sample_rate, dimension,
    # metric, min_num_samples
    embedding: Any
    cluster: ClusterFunction
    device: str
    sample_rate: int
    segmentation_step: float  # share of the segmentation window
    segmentation_batch_size: int
    embedding_batch_size: int
    onset: float
    min_duration_off: float


def assembled_speaker_diarization(parts: PipelineParts) -> Any:
    """A ready pyannote SpeakerDiarization pipeline from `parts` (nothing downloaded)."""
    import torch
    from pyannote.audio import Audio, Inference, Model, Pipeline
    from pyannote.audio.pipelines.clustering import BaseClustering
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization
    from pyannote.pipeline.parameter import ParamDict, Uniform

    class OwnClustering(BaseClustering):
        expects_num_clusters = False

        def cluster(self, embeddings, min_clusters, max_clusters, num_clusters=None):
            return parts.cluster(embeddings, min_clusters, max_clusters, num_clusters)

    class AssembledSpeakerDiarization(SpeakerDiarization):
        # sets up the attributes SpeakerDiarization.__init__ would, from objects in memory
        def __init__(self) -> None:
            Pipeline.__init__(self)
            model = Model.from_pretrained(parts.segmentation_checkpoint)
            model.to(torch.device(parts.device))
            self.legacy = False
            self.segmentation_model = parts.segmentation_checkpoint
            self.segmentation_step = parts.segmentation_step
            self.embedding = type(parts.embedding).__name__
            self.embedding_batch_size = parts.embedding_batch_size
            self.embedding_exclude_overlap = True
            self.plda = None
            self._plda = None
            self.klustering = "OwnClustering"
            self.der_variant = {"collar": 0.0, "skip_overlap": False}
            duration = model.specifications.duration
            self._segmentation = Inference(
                model,
                duration=duration,
                step=parts.segmentation_step * duration,
                skip_aggregation=True,
                batch_size=parts.segmentation_batch_size,
            )
            self.segmentation = ParamDict(
                threshold=Uniform(0.1, 0.9), min_duration_off=Uniform(0.0, 1.0)
            )
            self._embedding = parts.embedding
            self._audio = Audio(sample_rate=parts.sample_rate, mono="downmix")
            self.clustering = OwnClustering(metric="cosine")
            self._expects_num_speakers = False

    pipeline = AssembledSpeakerDiarization()
    pipeline.instantiate(
        {"segmentation": {"threshold": parts.onset, "min_duration_off": parts.min_duration_off}}
    )
    return pipeline
