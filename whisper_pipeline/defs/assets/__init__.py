"""Per-recording assets, in the order the data flows."""

from whisper_pipeline.defs.assets.analytics import recording_analytics
from whisper_pipeline.defs.assets.diarization import diarization
from whisper_pipeline.defs.assets.metadata import recording_metadata
from whisper_pipeline.defs.assets.speaker_transcript import speaker_transcript
from whisper_pipeline.defs.assets.step import stop_between_steps
from whisper_pipeline.defs.assets.transcript import transcript

# each stops the run when terminated as it ends (one hook event per step)
PER_RECORDING_ASSETS = [
    asset.with_hooks({stop_between_steps})
    for asset in (
        recording_metadata,
        transcript,
        diarization,
        speaker_transcript,
        recording_analytics,
    )
]

__all__ = ["PER_RECORDING_ASSETS"]
