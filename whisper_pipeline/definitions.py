"""The code location: the only Definitions. Importing it loads no model and touches no disk."""

from dagster import Definitions

from whisper_pipeline.assets import PER_RECORDING_ASSETS
from whisper_pipeline.jobs import process_recording
from whisper_pipeline.resources.alignment import WordAlignment
from whisper_pipeline.resources.asr import WhisperASR
from whisper_pipeline.resources.diarization import SpeakerDiarizer
from whisper_pipeline.resources.storage import PipelineStorage
from whisper_pipeline.sensors.run_monitor import RunMonitorSettings, run_monitor


def default_resources() -> dict[str, object]:
    """Embedded defaults: CPU/CUDA auto, the bundled tiny.en model, no token needed."""
    return {
        "storage": PipelineStorage(),
        "asr": WhisperASR(),
        "alignment": WordAlignment(),
        "diarizer": SpeakerDiarizer(),
        "run_monitor_settings": RunMonitorSettings(),
    }


defs = Definitions(
    assets=PER_RECORDING_ASSETS,
    jobs=[process_recording],
    sensors=[run_monitor],
    resources=default_resources(),
)
