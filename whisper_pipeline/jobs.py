"""The per-recording job: every step of one recording in one process, sharing loaded models.

Its runs go to the `gpu` Celery queue (launcher.py): the workers that hold the models.
A failed step frees accelerator memory itself (assets/step.py), so no failure hook is needed:
hooks add an event to every step of every run."""

from dagster import (
    AssetSelection,
    Config,
    OpExecutionContext,
    Output,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from whisper_pipeline.assets import PER_RECORDING_ASSETS
from whisper_pipeline.resources.diarization import SpeakerDiarizer
from whisper_pipeline.resources.storage import PipelineStorage
from whisper_pipeline.resources.subtitles import SubtitleSettings
from whisper_pipeline.tags import CELERY_QUEUE_TAG, CPU_QUEUE, GPU_QUEUE

PROCESS_RECORDING = "process_recording"
RENAME_SPEAKER = "rename_speaker"

process_recording = define_asset_job(
    name=PROCESS_RECORDING,
    selection=AssetSelection.assets(*PER_RECORDING_ASSETS),
    executor_def=in_process_executor,
    tags={CELERY_QUEUE_TAG: GPU_QUEUE},
    description="Metadata, transcript, diarization, speaker transcript and analytics of one recording.",
)


class RenameSpeakerConfig(Config):
    """Which speaker of which recording gets which name."""

    recording: str = Field(description="Recording id (its partition key) or file name.")
    speaker: str = Field(description="The label to replace, e.g. SPEAKER_01.")
    name: str = Field(description="The name to give, e.g. Ana.")


@op(
    description="Name a recording's speaker: warehouse rows and transcript files are rewritten"
    " from the stored results, nothing is transcribed or diarized again."
)
def rename_speaker_op(
    context: OpExecutionContext,
    config: RenameSpeakerConfig,
    storage: PipelineStorage,
    diarizer: SpeakerDiarizer,
    subtitles: SubtitleSettings,
):
    from whisper_pipeline.speaker_names import rename_speaker, renamed_materialization

    renamed = rename_speaker(
        storage,
        config.recording,
        config.speaker,
        config.name,
        diarizer.voices_dir,
        subtitles.style(),
    )
    if renamed.voice_note:
        context.log.info(f"voice not remembered: {renamed.voice_note}")
    storage.warehouse.refresh_database()
    context.log.info(f"{renamed.recording_id}: {renamed.old} is now {renamed.new}")
    yield renamed_materialization(renamed)  # the partition's page shows the names
    yield Output(None)


@job(
    name=RENAME_SPEAKER,
    tags={CELERY_QUEUE_TAG: CPU_QUEUE},
    description="Name a speaker of one recording (config: recording, speaker, name) without"
    " processing it again; `whisper-pipeline speakers rename` does the same.",
)
def rename_speaker_job():
    rename_speaker_op()
