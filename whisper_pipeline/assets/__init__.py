"""Per-recording assets, in the order the data flows."""

from whisper_pipeline.assets.analytics import recording_analytics
from whisper_pipeline.assets.diarization import diarization
from whisper_pipeline.assets.metadata import recording_metadata
from whisper_pipeline.assets.speaker_transcript import speaker_transcript
from whisper_pipeline.assets.transcript import transcript

PER_RECORDING_ASSETS = [
    recording_metadata,
    transcript,
    diarization,
    speaker_transcript,
    recording_analytics,
]

__all__ = ["PER_RECORDING_ASSETS"]
