"""The code location: the only Definitions. Importing it loads no model; it reads the
deployment's settings file when there is one (whisper_pipeline/runtime/settings.py)."""

from dagster import Definitions, in_process_executor

from whisper_pipeline.defs.assets import PER_RECORDING_ASSETS
from whisper_pipeline.defs.assets.summaries import SUMMARY_ASSETS
from whisper_pipeline.defs.jobs import build_rename_speaker_job, process_recording
from whisper_pipeline.defs.resources.alignment import WordAlignment
from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
from whisper_pipeline.defs.resources.hand_off import HAND_OFF, step_hand_off
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
from whisper_pipeline.defs.schedules import build_summaries_schedule, refresh_summaries
from whisper_pipeline.defs.sensors.inbox import IntakeSettings, build_inbox_sensor
from whisper_pipeline.runtime.run_monitor import RunMonitorSettings, run_monitor
from whisper_pipeline.runtime.settings import SettingsError, load_resource_settings

RESOURCE_TYPES = {
    "storage": PipelineStorage,
    "asr": WhisperASR,
    "alignment": WordAlignment,
    "diarizer": SpeakerDiarizer,
    "subtitles": SubtitleSettings,
    "intake": IntakeSettings,
    "run_monitor_settings": RunMonitorSettings,
}


def build_resources(settings: dict[str, dict] | None = None) -> dict[str, object]:
    """Every resource from its settings; embedded defaults (CPU/CUDA auto, the bundled tiny.en
    model, no token needed, inbox under the home folder) for what is not set."""
    settings = settings or {}
    unknown = sorted(set(settings) - set(RESOURCE_TYPES))
    if unknown:
        raise SettingsError(
            f"unknown resource(s) in settings: {', '.join(unknown)}; known: {', '.join(RESOURCE_TYPES)}"
        )
    bound = {name: kind(**settings.get(name, {})) for name, kind in RESOURCE_TYPES.items()}
    return {**bound, HAND_OFF: step_hand_off}


resources = build_resources(load_resource_settings())

defs = Definitions(
    assets=[*PER_RECORDING_ASSETS, *SUMMARY_ASSETS],
    jobs=[process_recording, refresh_summaries, build_rename_speaker_job(resources["storage"])],
    sensors=[run_monitor, build_inbox_sensor(resources["intake"].interval_s)],
    schedules=[build_summaries_schedule(resources["intake"].summaries_cron)],
    resources=resources,
    # every job (the asset graph's own "Materialize" job too) runs its steps in the run's one
    # process: runs execute inside Celery pool processes, which may not start children
    executor=in_process_executor,
)
